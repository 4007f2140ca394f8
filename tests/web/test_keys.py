"""The chat page against a server that needs API keys, in Chromium: the key prompt (a modal dialog with a label, focus
in the field, Escape, a refused key said so), the key kept in this tab's sessionStorage and sent as a Bearer header on
every call (the answer's stream included), each key seeing only its groups' documents in the page, originals opened
with the key (markdown and PDF from a blob, DOCX saved), a revoked key, and sign out. The server is a real `rag serve`
over a small corpus: three policies of docs_corpus/ (markdown, PDF, DOCX) in the default group `staff`, and
tests/fixtures/web_access/'s casework procedure, `access: hr` in its front matter; its keys are made with the real
`rag keys add` against the server's RAG_STATE_DIR.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.config import Settings
from tests.conftest import FIXTURES, ROOT
from tests.web.chat_page import ask, conversation_id, fits_width, highlighted, shoot
from tests.web.conftest import served

HR_DOC = "hr-casework-procedure.md"
HR_TITLE = "Disciplinary Casework Procedure"
HR_QUESTION = "How long are Quokkaplan casework files kept?"
STAFF_DOCS = ("records-retention-schedule.md", "anti-bribery-policy.pdf", "data-classification-standard.docx")
REFUSED_401 = ("status 401", "401 (Unauthorized)")  # the prompt is driven by these: the page expects them


@dataclass
class KeyedServer:
    base: str
    hr: str  # groups hr and staff
    staff: str  # group staff
    state_dir: Path


def add_key(state_dir: Path, name: str, groups: str, *flags: str) -> str:
    """`rag keys add NAME --groups GROUPS [FLAGS]` as an operator runs it; the key, alone on its last line."""
    env = {**os.environ, "RAG_STATE_DIR": str(state_dir)}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "keys", "add", name, "--groups", groups, *flags], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def keyed(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    """A `rag serve` that needs keys, over the small corpus built with the real model, and its two keys."""
    from rag.indexing import builds
    from rag.indexing.passage_encoder import make_passage_embedder

    root = tmp_path_factory.mktemp("web-keys")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in STAFF_DOCS:
        shutil.copy(ROOT / "docs_corpus" / name, corpus / name)
    shutil.copy(FIXTURES / "web_access" / HR_DOC, corpus / HR_DOC)
    settings = Settings.from_env({}, corpus_dir=corpus, index_dir=root / "index", state_dir=root / "state")
    builds.promote(settings.index_dir, builds.build(settings, make_passage_embedder(settings)).build_id)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    hr, staff = add_key(settings.state_dir, "hr-lead", "hr,staff"), add_key(settings.state_dir, "staffer", "staff")
    with served(settings, settings.state_dir, {}) as base:
        yield KeyedServer(base, hr, staff, settings.state_dir)


def everything_logged(page: Any) -> list[str]:
    """Every console message of `page` from now on, of any level (the conftest keeps only the errors)."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text))
    return seen


def open_keyed(open_page: Any, keyed: KeyedServer, width: int = 1280) -> Any:
    page = open_page(width=width, base=keyed.base)
    page.problems.allow(*REFUSED_401)
    page.locator("#key-dialog[open]").wait_for()
    return page


def sign_in(page: Any, key: str) -> None:
    page.locator("#key-input").fill(key)
    page.keyboard.press("Enter")
    page.locator("#key-dialog").wait_for(state="hidden")
    page.locator("#sign-out").wait_for()


def stored_answer(page: Any, keyed: KeyedServer, key: str) -> dict[str, Any]:
    response = httpx.get(f"{keyed.base}/v1/conversations/{conversation_id(page)}",
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
    response.raise_for_status()
    return response.json()["turns"][-1]["answer"]


def cited_documents(answer: dict[str, Any]) -> set[str]:
    return {c["doc_id"] for c in answer["citations"]} | {p["doc_id"] for p in answer.get("passages") or []}


def focused_id(page: Any) -> str:
    return page.evaluate("() => document.activeElement.id")


def test_the_page_asks_for_a_key_and_each_key_sees_only_its_documents(open_page, keyed):
    page = open_keyed(open_page, keyed)
    logged = everything_logged(page)
    sent = []
    page.on("request", lambda r: "/v1/" in r.url and sent.append(r.headers.get("authorization")))
    assert page.locator("#key-dialog").evaluate("d => d.matches(':modal')")
    assert page.locator("#key-title").text_content() == "This assistant needs a key"
    assert focused_id(page) == "key-input" and page.get_by_label("API key").count() == 1
    assert page.locator("#key-input").get_attribute("type") == "password"
    shoot(page, "key-prompt-1280-light")
    sign_in(page, keyed.hr)
    assert focused_id(page) == "question"

    turn = ask(page, HR_QUESTION)
    answer = stored_answer(page, keyed, keyed.hr)
    assert not answer["abstained"] and HR_DOC in {c["doc_id"] for c in answer["citations"]}, answer
    assert HR_TITLE in turn.locator(".sources").text_content()
    page.locator("#conversations-note").filter(has_text="for your key").wait_for()
    assert sent and set(sent) == {f"Bearer {keyed.hr}"}, sent  # every API call, the streamed answer included
    assert page.evaluate("() => sessionStorage.getItem('rag.key')") == keyed.hr
    assert keyed.hr not in page.evaluate("() => JSON.stringify(localStorage)")

    staff = open_keyed(open_page, keyed)
    staff_logged = everything_logged(staff)
    sign_in(staff, keyed.staff)
    turn = ask(staff, HR_QUESTION)
    answer = stored_answer(staff, keyed, keyed.staff)
    assert HR_DOC not in cited_documents(answer), answer  # not in the documents, or answered from others'
    assert HR_TITLE not in turn.text_content()
    staff.locator("#scope-summary").click()
    staff.locator("#scope-documents input").first.wait_for()
    listed = staff.locator("#scope-documents").text_content()
    assert HR_TITLE not in listed and HR_DOC not in listed
    for seen, key in ((page, keyed.hr), (staff, keyed.staff)):
        assert key not in seen.url
    for lines in (logged, staff_logged):
        assert not any(k in line or k.split("_", 2)[2] in line for line in lines for k in (keyed.hr, keyed.staff)), lines


def test_a_wrong_key_is_refused_escape_declines_and_sign_out_forgets(open_page, keyed):
    page = open_keyed(open_page, keyed)
    logged = everything_logged(page)
    page.keyboard.press("Enter")  # nothing typed
    assert "Paste your API key" in page.locator("#key-error").text_content()
    wrong = keyed.staff[:-4] + "zzzz"
    page.locator("#key-input").fill(wrong)
    page.keyboard.press("Enter")
    error = page.locator("#key-error")
    error.filter(has_text="refused").wait_for()
    assert error.get_attribute("role") == "alert" and "rag keys add" in error.text_content()
    assert page.locator("#key-input").get_attribute("aria-invalid") == "true"
    assert page.locator("#key-dialog").evaluate("d => d.open") and focused_id(page) == "key-input"
    shoot(page, "key-refused-1280-light")
    page.keyboard.press("Escape")
    page.locator("#key-dialog").wait_for(state="hidden")
    assert page.locator("#sign-in").is_visible() and page.locator("#sign-out").is_hidden()
    assert page.evaluate("() => sessionStorage.getItem('rag.key')") is None

    page.locator("#question").fill(HR_QUESTION)
    page.keyboard.press("Enter")  # once declined, asking fails saying how to give a key (no dialog springs up)
    failed = page.locator(".turn .reply.failed")
    failed.wait_for()
    assert "Enter a key" in failed.text_content() and page.locator("#key-dialog").evaluate("d => !d.open")

    page.locator("#sign-in").click()
    page.locator("#key-dialog[open]").wait_for()
    page.locator("#key-input").fill(keyed.staff)
    page.keyboard.press("Enter")
    page.locator("#sign-out").wait_for()  # the page starts again with the key
    page.locator("#conversations-note").filter(has_text=re.compile("for your key|None yet")).wait_for()
    assert wrong not in page.url and keyed.staff not in page.url
    page.locator("#sign-out").click()
    page.locator("#key-dialog[open]").wait_for()
    assert page.evaluate("() => sessionStorage.getItem('rag.key')") is None and "#" not in page.url
    assert not any(keyed.staff in line or wrong in line for line in logged), logged


def test_with_a_key_the_original_opens_from_a_blob_holding_the_file(open_page, keyed):
    page = open_keyed(open_page, keyed)
    sign_in(page, keyed.hr)
    turn = ask(page, HR_QUESTION)
    answer = stored_answer(page, keyed, keyed.hr)
    citation = next(c for c in answer["citations"] if c["doc_id"] == HR_DOC)
    turn.locator(f".sources .source[data-n='{citation['n']}']").click()
    assert highlighted(page) == citation["quote"]
    with page.expect_popup() as popup_info:
        page.locator("#doc-original").click()
    popup = popup_info.value
    popup.wait_for_url("blob:**")
    assert popup.url.startswith(f"blob:{keyed.base}/")
    body = popup.evaluate("() => document.body.innerText")
    assert "Quokkaplan scheme are kept for six years" in body and "access: hr" in body  # the file as it is
    popup.close()


def test_a_server_without_keys_never_shows_the_prompt_or_sends_a_key(open_page, web_server):
    page = open_page(width=1280)
    sent = []
    page.on("request", lambda r: "/v1/" in r.url and sent.append(r.headers.get("authorization")))
    ask(page, "How long are job applicant records kept?")
    assert page.locator("#key-dialog").evaluate("d => !d.open")
    assert page.locator("#sign-in").is_hidden() and page.locator("#sign-out").is_hidden()
    assert sent and set(sent) == {None}


def test_with_a_key_a_pdf_original_opens_at_its_page(open_page, keyed):
    page = open_keyed(open_page, keyed)
    sign_in(page, keyed.staff)
    turn = ask(page, "Who approves a donation of more than £50,000?")  # the README's PDF example
    answer = stored_answer(page, keyed, keyed.staff)
    citation = next(c for c in answer["citations"] if c["doc_id"] == "anti-bribery-policy.pdf" and c["page"])
    turn.locator(f".sources .source[data-n='{citation['n']}']").click()
    highlighted(page)
    assert "PDF" in page.locator("#doc-original").text_content()
    with page.expect_popup() as popup_info:
        page.locator("#doc-original").click()
    popup = popup_info.value
    popup.wait_for_url("blob:**")
    assert popup.url.startswith(f"blob:{keyed.base}/") and popup.url.endswith(f"#page={citation['page']}")
    assert popup.evaluate("() => document.contentType") == "application/pdf"  # shown as a PDF, not saved or as text
    popup.close()


def test_a_key_revoked_mid_visit_asks_again_and_the_question_goes_through(open_page, keyed):
    state = keyed.state_dir
    brief = add_key(state, "brief-visit", "staff")
    page = open_keyed(open_page, keyed)
    sign_in(page, brief)
    env = {**os.environ, "RAG_STATE_DIR": str(state)}
    subprocess.run([sys.executable, "-m", "rag.cli", "keys", "revoke", "brief-visit"], env=env, check=True, timeout=120,
                   capture_output=True)
    refused_now(keyed.base, brief)
    page.locator("#question").fill("How long are job applicant records kept?")
    page.keyboard.press("Enter")
    page.locator("#key-dialog[open]").wait_for()
    assert "no longer accepted" in page.locator("#key-error").text_content()
    assert page.evaluate("() => sessionStorage.getItem('rag.key')") is None
    sign_in(page, keyed.staff)
    turn = page.locator(".turn").first
    turn.locator(".reply.answered .feedback").wait_for()  # the same question, sent again with the new key
    assert "records-retention" in json.dumps(stored_answer(page, keyed, keyed.staff)["citations"])


def refused_now(base: str, key: str) -> None:
    """Wait until the server refuses `key` (a revocation reaches a running server within its remember window)."""
    for _ in range(200):
        response = httpx.get(f"{base}/v1/conversations", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        if response.status_code == 401:
            return
        time.sleep(0.05)
    raise AssertionError("the revoked key is still accepted")


def test_the_key_prompt_fits_a_phone_in_the_dark(open_page, keyed):
    page = open_page(width=360, scheme="dark", base=keyed.base)
    page.problems.allow(*REFUSED_401)
    page.locator("#key-dialog[open]").wait_for()
    box = page.locator("#key-dialog").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and fits_width(page)
    assert page.locator("#key-submit").is_visible() and page.locator("#key-cancel").is_visible()
    shoot(page, "key-prompt-360-dark")
    sign_in(page, keyed.staff)
    assert page.locator("#sign-out").is_visible() and fits_width(page)


def test_with_a_key_a_docx_original_is_saved_under_its_name(open_page, keyed):
    page = open_keyed(open_page, keyed)
    sign_in(page, keyed.staff)
    turn = ask(page, "can I use copilot on strictly confidential stuff")
    answer = stored_answer(page, keyed, keyed.staff)
    citation = next(c for c in answer["citations"] if c["doc_id"].endswith(".docx"))
    turn.locator(f".sources .source[data-n='{citation['n']}']").click()
    highlighted(page)
    with page.expect_download() as download_info:
        page.locator("#doc-original").click()
    download = download_info.value
    assert download.suggested_filename == citation["doc_id"]
    assert Path(download.path()).read_bytes()[:2] == b"PK"  # the DOCX (a zip) as the server keeps it
