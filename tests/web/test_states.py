"""The chat page's other states in Chromium: feedback stored with its turn, markup in documents and questions shown
as text and never run, offsets after characters outside the BMP, errors that say what to do, and a restricted scope.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from tests.web.chat_page import ask, conversation_id, highlighted, shoot, stored
from tests.web.conftest import served

MARKUP_QUESTION = "What must happen to an image tag found in a Zephyrine form field?"
EMOJI_QUESTION = "How much is the Zephyrine cycle voucher worth per rider?"
MARKUP_DOC = "web-form-markup-notice.md"


def feedback_rows(settings) -> list[dict]:
    with sqlite3.connect(settings.state_dir / "feedback.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM feedback ORDER BY created_at")]


def test_thumbs_up_with_a_comment_is_stored_with_its_turn_shown_again_and_exported_as_gold(open_page, web_server, web_settings,
                                                                                          tmp_path):
    page = open_page(width=1280)
    turn = ask(page, "How long are job applicant records kept?")
    before = len(feedback_rows(web_settings)) if (web_settings.state_dir / "feedback.sqlite").exists() else 0
    turn.locator(".thumb", has_text="Helpful").first.click()
    status = turn.locator(".feedback-status")
    status.filter(has_text="saved").wait_for()
    turn.locator(".comment").fill("Quoted the right clause.")
    turn.locator(".comment-form button[type=submit]").click()
    status.filter(has_text="comment are saved").wait_for()
    rows = feedback_rows(web_settings)
    assert len(rows) == before + 1
    row = rows[-1]
    answer = stored(page, web_server)["turns"][0]["answer"]
    assert row["conversation_id"] == conversation_id(page) and row["turn"] == 1 and row["rating"] == "up"
    assert row["comment"] == "Quoted the right clause." and row["question"] == "How long are job applicant records kept?"
    assert json.loads(row["answer"])["answer"] == answer["answer"] and row["build_id"] == answer["build_id"]
    gold = exported(web_settings, tmp_path / "feedback.jsonl", conversation_id(page))
    assert gold["question"] == row["question"] and gold["answerable"] is True
    assert gold["evidence"] == [{"doc": c["doc_id"], "text": c["quote"]} for c in answer["citations"]]
    assert gold["meta"]["comment"] == "Quoted the right clause."

    page.reload()
    up = page.locator(".turn .thumb", has_text="Helpful").first
    up.wait_for()
    assert up.get_attribute("aria-pressed") == "true"
    assert page.locator(".turn .comment").input_value() == "Quoted the right clause."
    page.locator(".turn .thumb", has_text="Not helpful").click()
    page.locator(".turn .feedback-status", has_text="saved").wait_for()
    rows = feedback_rows(web_settings)
    assert len(rows) == before + 1 and rows[-1]["rating"] == "down"  # rating again replaces the rating


def exported(settings, out, conversation: str) -> dict:
    """The gold row `rag feedback export` writes for the first turn of `conversation`."""
    subprocess.run([sys.executable, "-m", "rag.cli", "feedback", "export", "--out", str(out), "--state-dir",
                    str(settings.state_dir)], check=True, capture_output=True, timeout=120)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return next(r for r in rows if r["meta"]["conversation_id"] == conversation and r["meta"]["turn"] == 1)


def test_a_document_holding_markup_shows_the_characters_and_runs_nothing(open_page, web_server):
    page = open_page(width=1280)
    turn = ask(page, MARKUP_QUESTION)
    answer = stored(page, web_server)["turns"][0]["answer"]
    cited = [c for c in answer["citations"] if c["doc_id"] == MARKUP_DOC]
    assert cited, answer
    assert "<img" in turn.locator(".answer-text").text_content() + turn.locator(".sources").text_content()
    turn.locator(f".sources .source[data-n='{cited[0]['n']}']").click()
    assert highlighted(page) == cited[0]["quote"]
    text = page.locator("#doc-text").text_content()
    assert '<script>window.__xss = "script"; document.title = "pwned";</script>' in text
    assert "onerror=\"window.__xss = 'img'\"" in text and "javascript:window.__xss" in text
    assert page.evaluate("() => window.__xss") is None and page.title() == "Policy assistant"
    shoot(page, "markup-1280-light")
    assert page.locator("#doc-text script, #doc-text img, #doc-text a, .turns script, .turns img, .turns a").count() == 0


def test_a_question_holding_markup_is_shown_as_typed(open_page):
    page = open_page(width=1280)
    typed = "<img src=x onerror=\"window.__xss='question'\"> voucher?"
    turn = ask(page, typed)
    assert turn.locator(".question-text").text_content() == typed
    assert page.evaluate("() => window.__xss") is None and turn.locator("img").count() == 0


def test_a_span_after_characters_outside_the_bmp_is_highlighted_exactly(open_page, web_server):
    """The server counts code points, the page UTF-16 units: the emoji before the cited sentence must not shift it."""
    page = open_page(width=1280)
    turn = ask(page, EMOJI_QUESTION)
    answer = stored(page, web_server)["turns"][0]["answer"]
    cited = [c for c in answer["citations"] if c["doc_id"] == MARKUP_DOC and "£85" in c["quote"]]
    assert cited, answer
    turn.locator(f".answer-text .chip[data-n='{cited[0]['n']}']").first.click()
    assert highlighted(page) == cited[0]["quote"]
    assert page.locator("#doc-notice").is_hidden()  # found at its offsets, not searched for


def test_a_refused_request_shows_the_servers_message_and_keeps_the_question(open_page, web_settings):
    page = open_page(width=1280)
    page.problems.allow("status 422", "status of 422")
    too_long = "travel " * (web_settings.max_question_chars // 7 + 5)
    turn = ask(page, too_long)
    reply = turn.locator(".reply")
    assert "failed" in reply.get_attribute("class") and reply.get_attribute("role") == "alert"
    assert turn.locator(".reply-label").text_content() == "Could not answer"
    message = turn.locator(".error-text").text_content()
    assert str(web_settings.max_question_chars) in message, message
    assert page.locator("#question").input_value() == too_long.strip()
    shoot(page, "refused-1280-light")
    assert turn.locator("button", has_text="Try again").is_visible()


def test_an_unreachable_server_says_what_to_do_and_try_again_recovers(open_page):
    page = open_page(width=1280)
    page.problems.allow("failed: POST", "ERR_CONNECTION_REFUSED")
    page.route("**/messages", lambda route: route.abort("connectionrefused"))  # the server gone mid-conversation
    turn = ask(page, "How long are job applicant records kept?")
    assert "Cannot reach the assistant" in turn.locator(".error-text").text_content()
    assert "make run" in turn.locator(".error-text").text_content()
    page.unroute("**/messages")
    page.locator("#question").fill("")
    turn.locator("button", has_text="Try again").click()
    retried = page.locator(".turn").last
    retried.locator(".reply.answered .feedback").wait_for()
    assert page.locator(".reply.failed").count() == 0


def test_a_full_conversation_offers_a_new_one_and_a_stopped_server_says_to_start_it(open_page, web_settings, tmp_path):
    """A second `rag serve` over the same index keeping one turn per conversation; then it is stopped, for real."""
    with served(web_settings, tmp_path / "state", {"RAG_CONVERSATION_MAX_TURNS": "1"}) as base:
        page = open_page(width=1280, base=base)
        page.problems.allow("status 409", "status of 409", "ERR_CONNECTION_REFUSED", "failed: ")
        answered = ask(page, "How long are job applicant records kept?")
        assert "answered" in answered.locator(".reply").get_attribute("class")
        full = ask(page, "And payroll records?")
        assert "failed" in full.locator(".reply").get_attribute("class")
        assert "new" in full.locator(".error-text").text_content().lower()
        full.locator("button", has_text="Start a new conversation").click()
        assert page.locator(".turn").count() == 0 and page.evaluate("() => location.hash") == ""
        assert focused_id(page) == "question" and page.locator("#question").input_value() == "And payroll records?"
    page.locator("#question").fill("")
    down = ask(page, "And payroll records?")
    message = down.locator(".error-text").text_content()
    assert "Cannot reach the assistant" in message and "make run" in message
    assert down.locator("button", has_text="Try again").is_visible()


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement.id")


def test_a_deleted_conversation_in_the_address_says_so(open_page, web_server):
    page = open_page(width=1280)
    page.problems.allow("status 404", "status of 404")
    page.goto(web_server + "/#conversation=gone-for-good")
    banner = page.locator("#banner")
    banner.filter(has_text="no longer here").wait_for()
    assert banner.get_attribute("role") == "alert" and page.evaluate("() => location.hash") == ""


def test_answers_refusals_and_errors_look_different(open_page):
    page = open_page(width=1280)
    looks, labels = [], []
    for question, kind in (("How long are job applicant records kept?", "answered"),
                           ("What colour is the office cat?", "refusal"), ("Who approves gifts?", "failed")):
        page.locator("#new-conversation").click()  # each its own conversation: a follow-up is read with its history
        if kind == "failed":
            page.problems.allow("failed: POST", "ERR_CONNECTION_REFUSED")
            page.route("**/v1/conversations", lambda route: route.abort("connectionrefused"))
        turn = ask(page, question)
        assert kind in turn.locator(".reply").get_attribute("class")
        looks.append(turn.locator(".reply").evaluate(
            "r => { const s = getComputedStyle(r); return [s.backgroundColor, s.borderLeftColor, s.borderTopColor].join(' '); }"))
        labels.append(turn.locator(".reply-label").text_content())
    assert len(set(looks)) == 3, looks
    assert labels == ["Answer", "Not in the documents", "Could not answer"]


def test_a_conversation_restricted_to_one_document_cites_only_it(open_page, web_server):
    page = open_page(width=1280)
    page.locator("#scope-summary").click()
    page.locator("#scope-documents input[value='remote-working-policy.md']").check()
    assert "1 document" in page.locator("#scope-summary").text_content()
    ask(page, "What equipment does the company provide?")
    turn = stored(page, web_server)["turns"][0]
    assert turn["answer"]["citations"] or turn["answer"]["passages"]
    assert {c["doc_id"] for c in turn["answer"]["citations"]} <= {"remote-working-policy.md"}
    assert {p["doc_id"] for p in turn["answer"]["passages"]} == {"remote-working-policy.md"}
    page.reload()  # the scope is kept with the conversation
    page.locator(".turn").first.wait_for()
    assert "1 document" in page.locator("#scope-summary").text_content()


def test_an_uncertain_answer_offers_its_clauses_as_places_to_look(open_page, web_settings, tmp_path):
    with served(web_settings, tmp_path / "state", {"RAG_ANSWER_THRESHOLD": "0.99"}) as base:  # every answer below the cut
        page = open_page(width=1280, base=base)
        turn = ask(page, "How long are job applicant records kept?")
        reply = turn.locator(".reply")
        assert "uncertain" in reply.get_attribute("class") and "answered" not in reply.get_attribute("class")
        assert turn.locator(".reply-label").text_content() == "May answer: check these clauses"
        assert turn.locator(".answer-text").text_content().startswith("These clauses may answer it")
        assert turn.locator(".sources-title").first.text_content() == "Places to look"
        assert turn.locator(".source").count() >= 1  # each clause opens at its span, as a citation does
