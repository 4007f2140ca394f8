"""The generative path against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M on loopback.

Marked `llm`: skipped, with the reason, where the `llama-cpp-python[server]` extra or the GGUF is missing. The model is
weak, so these tests assert what must hold whatever it writes: every sentence shown passed verification and cites an
exact span, the stream shows only what the final answer holds, a rewrite is used only when it passes its checks.
"""

import io
import shutil

import pytest
from fastapi.testclient import TestClient

from rag.assistant import Assistant
from rag.chat.streaming import Completed, TextDelta
from rag.config import Settings
from rag.generate.client import ChatClient
from rag.generate.rewrite import ModelRewriter, checked_rewrite
from rag.indexing import builds
from rag.indexing.embedding import SentenceTransformerEmbedder
from rag.models import Message
from rag.search.retrieval import Filters
from rag.cli.chat import run_chat
from server.app import create_app
from tests.conftest import FIXTURES
from tests.local_llm import MODEL, local_llm_server
from tests.server.test_chat_api import events_of

pytestmark = pytest.mark.llm

QUESTION = "How long is CCTV footage kept?"
HISTORY = (Message("user", QUESTION), Message("assistant", "CCTV footage is kept for 30 days unless it is needed for an investigation. [1]"))


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory):
    with local_llm_server(tmp_path_factory.mktemp("llama")) as url:
        yield url


@pytest.fixture(scope="module")
def llm_settings(llm_url, tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("generated")
    shutil.copytree(FIXTURES / "mini", root / "corpus")
    return Settings.from_env({}, corpus_dir=root / "corpus", index_dir=root / "index", state_dir=root / "state", chunk_tokens=60,
                             chunk_overlap=10, abstain_threshold=0.3, top_k=3, answerer="openai", llm_base_url=llm_url,
                             llm_model=MODEL, llm_timeout=300.0, llm_max_tokens=80, llm_rewrite_timeout=300.0,
                             answer_threshold=1e-9)  # the model is asked whenever the question is not refused


@pytest.fixture(scope="module")
def assistant(llm_settings) -> Assistant:
    embedder = SentenceTransformerEmbedder()
    result = builds.build(llm_settings, embedder)
    builds.promote(llm_settings.index_dir, result.build_id)
    return Assistant(llm_settings, embedder=embedder)


def assert_verified(answer, documents) -> None:
    """What reaches the user passed the check: a generated answer is its kept sentences, each supported and followed by
    its citations, which quote exact spans; one that fell back says why and shows none of the model's sentences."""
    assert answer.model == MODEL, "the model was asked"
    if answer.fallback is not None:
        assert answer.backend == "extractive" and not any(s.kept for s in answer.sentences)
        return
    kept = [s for s in answer.sentences if s.kept]
    assert answer.backend == "openai" and kept and all(s.supported and s.citations for s in kept)
    assert answer.answer == " ".join(f"{s.text} " + " ".join(f"[{n}]" for n in s.citations) for s in kept)
    assert all(documents[c.doc_id].text[c.start:c.end] == c.quote for c in answer.citations)


def test_the_server_streams_a_reply_to_the_openai_client_of_the_backend(llm_url):
    client = ChatClient(llm_url, MODEL)
    deltas = list(client.stream([{"role": "user", "content": "Say hello."}], max_tokens=16, temperature=0.0, timeout=300.0))
    assert "".join(d.text for d in deltas).strip() and deltas[-1].finish in ("stop", "length")


def test_a_generated_answer_shows_only_verified_span_cited_sentences(assistant):
    answer = assistant.ask(QUESTION)
    assert not answer.abstained
    assert_verified(answer, assistant.snapshot.index.documents)


def test_the_stream_shows_exactly_the_verified_text_of_the_final_answer(assistant):
    events = list(assistant.stream("Who approves expense claims over 500 pounds?"))
    answer = next(e.answer for e in events if isinstance(e, Completed))
    assert not answer.abstained
    assert_verified(answer, assistant.snapshot.index.documents)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == answer.answer


def test_the_models_rewrite_of_a_follow_up_is_used_only_when_it_passes_its_checks(assistant, llm_settings):
    rewriter = ModelRewriter(ChatClient(llm_settings.llm_base_url, MODEL), llm_settings)
    text, why = rewriter.attempt("and payroll records?", HISTORY)
    if text is None:
        assert why
    else:
        assert checked_rewrite(text, "and payroll records?", HISTORY, llm_settings.max_question_chars) == (text, "")
    context = rewriter.rewrite("and payroll records?", HISTORY, assistant.snapshot.index)
    assert context.text == (text or rewriter.fallback.rewrite("and payroll records?", HISTORY, assistant.snapshot.index).text)


def test_generated_answers_over_http_stream_verified_sentences(assistant, llm_settings):
    with TestClient(create_app(llm_settings, assistant)) as client:
        with client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
            events = events_of(response.read().decode())
    deltas = [data["text"] for name, data in events if name == "delta"]
    answer = dict(events)["answer"]
    assert [name for name, _ in events][-1] == "done" and "".join(deltas) == answer["answer"]
    assert all(s["citations"] for s in answer["sentences"] if s["kept"]) and answer["model"] == MODEL


def test_rag_chat_answers_a_conversation_with_the_local_model(assistant, llm_settings, capsys):
    run_chat(llm_settings, None, Filters(), False, io.StringIO(f"{QUESTION}\nand payroll records?\n"), assistant)
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if line.startswith(("(written by", "(extractive answer:"))]
    assert len(notes) == 2 and out.count("Sources:") == 2, out
    assert all(f"(written by {MODEL}:" in n or "(extractive answer:" in n for n in notes)
