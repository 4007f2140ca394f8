"""The Corpus view in Chromium, for keys that may administer: the health report (an overdue review with its date and
owner, a broken reference with its span), a new version uploaded from the page and followed to live through its
gated build (then asked about in the conversation, which quotes the new text), a version the gate refuses with its
reasons, a damaged file refused with the build's message; a key that may not administer never sees the view. The
server is a real `rag serve` over the mini corpus, a gifts policy and a supplier standard that disagrees with it,
built with the real model; its uploads are gated on tests/fixtures/mini-gold.jsonl."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.config import Settings
from tests.conftest import FIXTURES
from tests.web.chat_page import ask, conversation_id, shoot
from tests.web.conftest import served
from tests.web.test_keys import REFUSED_401, add_key, sign_in

GIFTS = ("# Gifts and Hospitality Rules\n\nOwner: Compliance Officer\nNext review date: 1 March 2024\n\n## 1. Gifts\n\n"
         "1.1 Gifts worth more than 75 pounds are declared to the compliance team.\n\n"
         "1.2 Donations to charities follow the Community Investment Policy.\n")
SUPPLIERS = ("# Supplier Conduct Standard\n\nOwner: Procurement Director\n\n## 2. Gifts from suppliers\n\n"
             "2.1 Gifts from suppliers worth more than 50 pounds are declared to the compliance team.\n")
TAXI = "2.3 Taxis after 10 pm are paid up to 40 pounds a journey."


@dataclass
class CorpusServer:
    base: str
    admin: str
    staff: str
    corpus: Path


@pytest.fixture(scope="module")
def corpus_server(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusServer]:
    from rag.indexing import builds
    from rag.indexing.passage_encoder import make_passage_embedder

    root = tmp_path_factory.mktemp("web-corpus")
    corpus = root / "corpus"
    shutil.copytree(FIXTURES / "mini", corpus)
    (corpus / "gifts-policy.md").write_text(GIFTS, encoding="utf-8")
    (corpus / "supplier-standard.md").write_text(SUPPLIERS, encoding="utf-8")  # 50 pounds against the gifts policy's 75
    gate = root / "gate.toml"
    gate.write_text('[floors]\n"retrieval.hit@5" = 0.75\n', encoding="utf-8")
    settings = Settings.from_env({}, corpus_dir=corpus, index_dir=root / "index", state_dir=root / "state")
    builds.promote(settings.index_dir, builds.build(settings, make_passage_embedder(settings)).build_id)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    admin, staff = add_key(settings.state_dir, "root", "*", "--admin"), add_key(settings.state_dir, "staffer", "staff")
    env = {"RAG_UPLOAD_GOLD_FILES": str(FIXTURES / "mini-gold.jsonl"), "RAG_GATE_FILE": str(gate), "RAG_RELOAD_INTERVAL": "0.5"}
    with served(settings, settings.state_dir, env) as base:
        yield CorpusServer(base, admin, staff, corpus)


def open_signed_in(open_page: Any, server: CorpusServer, key: str) -> Any:
    page = open_page(width=1280, base=server.base)
    page.problems.allow(*REFUSED_401)
    page.locator("#key-dialog[open]").wait_for()
    with page.expect_response(lambda r: r.url.endswith("/v1/me") and r.status == 200):
        sign_in(page, key)  # the page reloads after sign in, and asks who the key is
    return page


def upload(page: Any, name: str, raw: bytes, mime: str = "text/plain") -> None:
    page.locator("#upload-file").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": raw}])
    page.locator("#upload-submit").click()


def test_an_admin_reads_the_health_report_uploads_a_new_version_and_asks_about_it(open_page, corpus_server):
    page = open_signed_in(open_page, corpus_server, corpus_server.admin)
    toggle = page.locator("#corpus-toggle")
    toggle.wait_for()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true" and page.locator("#question").is_hidden()
    overdue = page.locator("#health-overdue li").first
    overdue.wait_for()
    assert "Gifts and Hospitality Rules" in overdue.text_content()
    assert "next review 2024-03-01" in overdue.text_content() and "owner Compliance Officer" in overdue.text_content()
    reference = page.locator("#health-references li").filter(has_text="Community Investment Policy")
    assert "1.2 Donations to charities follow the Community Investment Policy." in reference.text_content()
    conflict = page.locator("#health-conflicts li").first
    assert "75 pounds vs 50 pounds" in conflict.text_content()
    spans = conflict.locator(".span-quote")
    assert spans.count() == 2
    assert "gifts-policy.md · 1. Gifts > 1.1: “1.1 Gifts worth more than 75 pounds are declared to the compliance team.”" in spans.nth(0).text_content()
    assert "2.1 Gifts from suppliers worth more than 50 pounds are declared" in spans.nth(1).text_content()
    shoot(page, "corpus-view-1280-light")

    text = (corpus_server.corpus / "travel.txt").read_text().replace("2.2 Hotels abroad", f"{TAXI}\n2.2 Hotels abroad")
    upload(page, "travel.txt", text.encode())
    status = page.locator("#build-status")
    status.filter(has_text="travel.txt").wait_for()
    page.locator('#build-status[data-state="live"]').wait_for(timeout=180_000)
    assert "live: questions are now answered from it" in status.text_content()
    assert "mini-gold: 6 questions, hit@5 1.000" in status.text_content()  # the gate's figures
    assert "travel.txt · live" in page.locator("#build-list li").first.text_content()
    assert (corpus_server.corpus / "travel.txt").read_text() == text
    shoot(page, "corpus-build-live-1280-light")

    toggle.click()
    assert page.locator("#question").is_visible()
    page.wait_for_timeout(1500)  # the server swaps in the promoted build within RAG_RELOAD_INTERVAL
    turn = ask(page, "How much are taxis after 10 pm paid?")
    stored = httpx.get(f"{corpus_server.base}/v1/conversations/{conversation_id(page)}",
                       headers={"Authorization": f"Bearer {corpus_server.admin}"}, timeout=30).json()
    quotes = [c["quote"] for c in stored["turns"][-1]["answer"]["citations"]]
    assert any(TAXI in q for q in quotes), quotes
    assert "40 pounds" in turn.text_content()


def test_the_gate_s_refusal_and_a_damaged_file_are_shown_and_nothing_goes_live(open_page, corpus_server):
    page = open_signed_in(open_page, corpus_server, corpus_server.admin)
    page.problems.allow("status 422", "422 (Unprocessable")
    page.locator("#corpus-toggle").click()
    live = httpx.get(f"{corpus_server.base}/readyz", timeout=30).json()["build_id"]
    before = (corpus_server.corpus / "retention.md").read_bytes()

    upload(page, "broken.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage", "application/pdf")
    error = page.locator("#upload-error")
    error.wait_for()
    assert error.text_content().startswith("broken.pdf: ") and not (corpus_server.corpus / "broken.pdf").exists()

    upload(page, "retention.md", b"# Records Retention Rules\n\n1.1 Records are kept as the law requires.\n")
    page.locator('#build-status[data-state="gate_failed"]').wait_for(timeout=180_000)
    status = page.locator("#build-status")
    assert "refused by the gate: the live documents are unchanged" in status.text_content()
    assert "retrieval.hit@5" in page.locator("#build-status .gate-failures li").first.text_content()
    assert httpx.get(f"{corpus_server.base}/readyz", timeout=30).json()["build_id"] == live
    assert "the corpus folder holds the live version again" in status.text_content()
    assert (corpus_server.corpus / "retention.md").read_bytes() == before
    shoot(page, "corpus-gate-failed-1280-light")


def test_a_key_that_may_not_administer_never_sees_the_corpus_view(open_page, corpus_server):
    page = open_signed_in(open_page, corpus_server, corpus_server.staff)
    page.wait_for_timeout(300)
    assert page.locator("#corpus-toggle").is_hidden() and page.locator("#corpus-view").is_hidden()
    assert httpx.get(f"{corpus_server.base}/v1/corpus/health", headers={"Authorization": f"Bearer {corpus_server.staff}"},
                     timeout=30).status_code == 403
