"""`as_of` and answer notes over real HTTP: a uvicorn server over the versions corpus built with the real model (today
2026-06-01). `/v1/ask` (plain and streamed), `/v1/search`, stored conversations and the OpenAI-compatible route
answer from the versions in force on the day asked about; a bad day is refused with the format expected."""

import json

import httpx
import openai
import pytest

from rag.assistant import Assistant
from server.schemas import AnswerOut
from tests.server.access_corpus import serving

pytestmark = pytest.mark.model
CLAIMS = "How many days do I have to submit an expense claim?"


@pytest.fixture(scope="module")
def base(versions_build):
    with serving(versions_build, Assistant(versions_build)) as url:
        yield url


def ask(base: str, **body) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{base}/v1/ask", json=body, timeout=60)


def test_ask_answers_from_today_s_version_and_as_of_from_the_version_then_in_force(base):
    today = ask(base, question=CLAIMS).json()
    assert "45 days" in today["answer"] and today["as_of"] == "2026-06-01" and today["notes"] == []
    then = ask(base, question=CLAIMS, as_of="2024-06-01").json()
    AnswerOut.model_validate(then)
    assert "30 days" in then["answer"] and then["as_of"] == "2024-06-01"
    assert [c["doc_id"] for c in then["citations"]] == ["expense-claims-2024.md"]
    assert [(n["kind"], n["doc_id"], n["citations"]) for n in then["notes"]] == [("superseded", "expense-claims-2024.md", [1])]
    scoped = ask(base, question=CLAIMS, as_of="2024-06-01", filters={"doc_ids": ["expense-claims-2026.md"]}).json()
    assert scoped["abstained"] and scoped["citations"] == []  # the 2026 copy was not yet in force on that day


def test_a_bad_day_is_refused_with_the_format_expected(base):
    for bad in ("2024-13-01", "1 June 2024", 20240601, ""):
        response = ask(base, question=CLAIMS, as_of=bad)
        assert response.status_code == 422, bad
        error = response.json()["error"]
        assert error["type"] == "invalid_request" and error["message"].startswith("as_of: ")
        assert "YYYY-MM-DD, e.g. 2024-06-01" in error["message"]
    search = httpx.post(f"{base}/v1/search", json={"question": CLAIMS, "as_of": "2024-02-30"}, timeout=60)
    assert search.status_code == 422 and "YYYY-MM-DD" in search.json()["error"]["message"]


def test_search_keeps_out_the_copy_not_in_force_on_the_day(base):
    today = httpx.post(f"{base}/v1/search", json={"question": CLAIMS, "k": 5}, timeout=60).json()
    then = httpx.post(f"{base}/v1/search", json={"question": CLAIMS, "k": 5, "as_of": "2024-06-01"}, timeout=60).json()
    assert "expense-claims-2024.md" not in {p["doc_id"] for p in today["passages"]}
    assert "expense-claims-2026.md" not in {p["doc_id"] for p in then["passages"]}
    assert today["passages"][0]["doc_id"] == "expense-claims-2026.md" and then["passages"][0]["doc_id"] == "expense-claims-2024.md"


def test_the_streamed_answer_carries_the_notes_and_the_conflicting_citation(base):
    with httpx.stream("POST", f"{base}/v1/ask", json={"question": "What is the hotel limit in London?", "stream": True},
                      timeout=60) as response:
        events = [line for line in response.iter_lines() if line]
    frames = dict(zip([e[7:] for e in events if e.startswith("event: ")], [json.loads(e[6:]) for e in events if e.startswith("data: ")]))
    answer = frames["answer"]
    assert {c["doc_id"] for c in frames["citations"]["citations"]} == {"hospitality-standard.md", "travel-policy.md"}
    assert frames["citations"]["citations"] == answer["citations"]
    kinds = {n["kind"]: n for n in answer["notes"]}
    assert kinds["overdue"]["message"] == "Note: the Travel Policy was due for review on 2025-03-01 (owner: Finance)."
    assert "disagree" in kinds["conflict"]["message"] and "is newer" in kinds["conflict"]["message"]


def test_a_not_yet_in_force_policy_says_so_over_http(base):
    body = ask(base, question="Can I charge my electric car at the office?").json()
    assert [n["kind"] for n in body["notes"]] == ["not_in_force"] and "takes effect on 2027-01-01" in body["notes"][0]["message"]


def test_a_stored_conversation_answers_as_of_and_keeps_the_notes(base):
    created = httpx.post(f"{base}/v1/conversations", json={}, headers={"X-Rag-Owner": "auditor"}, timeout=30).json()
    reply = httpx.post(f"{base}/v1/conversations/{created['id']}/messages", json={"question": CLAIMS, "as_of": "2024-06-01"},
                       headers={"X-Rag-Owner": "auditor"}, timeout=60).json()
    answer = reply["answer"] if "answer" in reply else reply["turns"][-1]["answer"]
    assert "30 days" in answer["answer"] and answer["notes"][0]["kind"] == "superseded"
    stored = httpx.get(f"{base}/v1/conversations/{created['id']}", headers={"X-Rag-Owner": "auditor"}, timeout=30).json()
    assert stored["turns"][0]["answer"]["notes"] == answer["notes"] and stored["turns"][0]["answer"]["as_of"] == "2024-06-01"


def test_the_openai_client_sends_as_of_in_extra_body(base):
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(model="policy-assistant", messages=[{"role": "user", "content": CLAIMS}],
                                                extra_body={"as_of": "2024-06-01"})
    assert "30 days" in completion.choices[0].message.content
    assert completion.model_extra["answer"]["notes"][0]["kind"] == "superseded"
    with pytest.raises(openai.UnprocessableEntityError, match="YYYY-MM-DD"):
        client.chat.completions.create(model="policy-assistant", messages=[{"role": "user", "content": CLAIMS}],
                                       extra_body={"as_of": "last June"})
