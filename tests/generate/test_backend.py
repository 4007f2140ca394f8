"""Generated answers end to end in the library, against the scripted server: verified sentences only, streamed as
they pass, exact-span citations, the per-sentence report, refusals without a model call, fallbacks and their reasons."""

import pytest

from rag.assistant import Assistant
from rag.chat.streaming import Completed, Heartbeat, TextDelta, sentence_pieces
from rag.errors import LLMTimeoutError, LLMUnavailableError
from tests.e2e_helpers import free_port
from tests.generate.fake_llm import Script, passage_number, words

QUESTION = "How long is CCTV footage kept?"
TRUE = "CCTV footage is kept for 30 days unless it is needed for an investigation"
FALSE = "Payroll records are kept for 9 years"


def reply(*sentences: str, needle: str = "CCTV footage") -> Script:
    """A reply citing the passage holding `needle` after each sentence, streamed word by word."""
    return Script(lambda body: words(" ".join(f"{s} [{passage_number(body, needle)}]." for s in sentences)))


def assistant_for(settings, fake_embedder, **changes) -> Assistant:
    return Assistant(settings.replace(**changes) if changes else settings, embedder=fake_embedder)


def test_only_verified_sentences_are_shown_each_citing_the_exact_span_that_supports_it(built, llm, llm_settings, fake_embedder):
    llm.reply(reply(TRUE, FALSE))
    assistant = assistant_for(llm_settings, fake_embedder)
    answer = assistant.ask(QUESTION)
    assert answer.backend == "openai" and answer.model == "fake-model" and answer.fallback is None and not answer.abstained
    assert answer.answer == f"{TRUE}. [1]"
    (citation,) = answer.citations
    assert citation.quote == "2.2 CCTV footage is kept for 30 days unless it is needed for an investigation."
    assert assistant.document("retention.md").text[citation.start:citation.end] == citation.quote
    assert citation.passage_rank == passage_number(llm.requests[0], "CCTV footage")
    kept, removed = answer.sentences
    assert (kept.text, kept.citations, kept.supported, kept.kept, kept.reason) == (f"{TRUE}.", (1,), True, True, "")
    assert (removed.text, removed.citations, removed.supported, removed.kept) == (f"{FALSE}.", (), False, False)
    assert removed.reason.startswith("9 not in [") and removed.support == 0.0 < kept.support


def test_the_stream_carries_verified_sentences_only_and_adds_up_to_the_answer(built, llm, llm_settings, fake_embedder):
    llm.reply(reply(TRUE, FALSE, TRUE.replace("30 days", "30 days at most")))
    events = list(assistant_for(llm_settings, fake_embedder).stream(QUESTION))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    answer = events[-1].answer
    assert isinstance(events[-1], Completed) and any(isinstance(e, Heartbeat) for e in events)
    assert "".join(deltas) == answer.answer and len(deltas) == 2 and not any("9 years" in d for d in deltas)
    assert deltas == [f"{TRUE}. [1]", f" {TRUE.replace('30 days', '30 days at most')}. [1]"]  # one span, one citation
    assert [c.kept for c in answer.sentences] == [True, False, True]


def test_the_prompt_carries_the_history_and_the_passages(built, llm, llm_settings, fake_embedder):
    llm.reply(reply(TRUE))
    history = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Paper records are shredded on site. [1]"}]
    assistant_for(llm_settings, fake_embedder).ask("and CCTV footage, how long?", history=history)
    messages = llm.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "Paper records are shredded on site." and "<passage n=\"1\"" in messages[3]["content"]
    assert messages[3]["content"].endswith("Question: and CCTV footage, how long?")


def test_mark_mode_keeps_unsupported_sentences_marked_unverified(built, llm, llm_settings, fake_embedder):
    llm.reply(reply(TRUE, FALSE))
    answer = assistant_for(llm_settings, fake_embedder, verify_mode="mark").ask(QUESTION)
    assert answer.answer == f"{TRUE}. [1] {FALSE}. [unverified]"
    assert [(c.supported, c.kept) for c in answer.sentences] == [(True, True), (False, True)]


def test_when_nothing_passes_the_extractive_answer_is_given_and_says_why(built, llm, llm_settings, fake_embedder):
    llm.reply(reply(FALSE))
    assistant = assistant_for(llm_settings, fake_embedder)
    events = list(assistant.stream(QUESTION))
    answer = events[-1].answer
    quoted = assistant_for(llm_settings, fake_embedder, answerer="extractive").ask(QUESTION)
    assert answer.backend == "extractive" and answer.answer == quoted.answer and answer.citations == quoted.citations
    assert answer.fallback.reason == "unverified" and "0 of 1 generated sentence passed" in answer.fallback.message
    assert [e.text for e in events if isinstance(e, TextDelta)] == sentence_pieces(quoted.answer)
    assert [(c.text, c.kept, c.supported) for c in answer.sentences] == [(f"{FALSE}.", False, False)]


def test_verified_sentences_are_held_back_until_enough_passed_so_none_is_taken_back(built, llm, llm_settings, fake_embedder):
    llm.reply(reply(TRUE, FALSE), reply(TRUE, TRUE.replace("30 days", "30 days at most")))
    strict = assistant_for(llm_settings, fake_embedder, verify_min_kept=2)
    events = list(strict.stream(QUESTION))
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert events[-1].answer.fallback.reason == "unverified" and events[-1].answer.backend == "extractive"
    assert shown == events[-1].answer.answer and not shown.startswith(TRUE)  # the extractive quote, not the held sentence
    assert [c.kept for c in events[-1].answer.sentences] == [False, False]  # the held sentence was never shown
    both = strict.ask(QUESTION)
    assert both.backend == "openai" and both.answer.count("[1]") == 2


def test_a_reply_saying_the_passages_do_not_answer_gives_the_extractive_answer(built, llm, llm_settings, fake_embedder):
    llm.reply(Script(words("The documents do not answer this question. But CCTV is great [1].")))
    answer = assistant_for(llm_settings, fake_embedder).ask(QUESTION)
    assert answer.backend == "extractive" and answer.fallback.reason == "declined" and answer.sentences == ()


def test_a_refusal_is_the_calibrated_refusal_and_no_model_is_asked(built, llm, llm_settings, fake_embedder):
    answer = assistant_for(llm_settings, fake_embedder).ask("Which vaccinations are required for pets?")
    assert answer.abstained and answer.backend == "extractive" and answer.fallback is None and llm.requests == []


def test_a_server_that_is_down_falls_back_or_errors_as_configured(built, llm_settings, fake_embedder):
    down = llm_settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    answer = assistant_for(down, fake_embedder).ask(QUESTION)
    assert answer.backend == "extractive" and answer.fallback.reason == "unreachable" and "[1]" in answer.answer
    assert "cannot reach the language model" in answer.fallback.message and answer.to_dict()["fallback"]["reason"] == "unreachable"
    assert "RAG_LLM_FALLBACK" not in answer.fallback.message  # it already fell back: that is no next step
    with pytest.raises(LLMUnavailableError, match="RAG_LLM_BASE_URL.*RAG_LLM_FALLBACK=extractive"):
        assistant_for(down, fake_embedder, llm_fallback="error").ask(QUESTION)


def test_a_slow_server_falls_back_at_the_timeout(built, llm, llm_settings, fake_embedder):
    llm.reply(Script(["late"], wait=20))
    answer = assistant_for(llm_settings, fake_embedder, llm_timeout=1.0).ask(QUESTION)
    assert answer.fallback.reason == "timeout" and "RAG_LLM_TIMEOUT" in answer.fallback.message
    llm.reply(Script(["late"], wait=20))
    with pytest.raises(LLMTimeoutError):
        assistant_for(llm_settings, fake_embedder, llm_timeout=1.0, llm_fallback="error").ask(QUESTION)


def test_a_server_that_stops_after_a_verified_sentence_leaves_that_sentence_as_the_answer(built, llm, llm_settings, fake_embedder):
    def pieces(body):
        n = passage_number(body, "CCTV footage")
        return [f"{TRUE} [{n}]. CCTV", " is", " great."]

    llm.reply(Script(pieces, delays=[0.0, 5.0, 5.0]))
    answer = assistant_for(llm_settings, fake_embedder, llm_timeout=1.5).ask(QUESTION)
    assert answer.backend == "openai" and answer.answer == f"{TRUE}. [1]" and answer.stopped.reason == "timeout"
    assert answer.fallback is None


def test_garbage_from_the_server_falls_back_with_bad_response(built, llm, llm_settings, fake_embedder):
    llm.reply(Script(body="<html>proxy error</html>"))
    answer = assistant_for(llm_settings, fake_embedder).ask(QUESTION)
    assert answer.fallback.reason == "bad_response" and answer.backend == "extractive"


def test_a_reply_cut_at_the_token_limit_says_so(built, llm, llm_settings, fake_embedder):
    llm.reply(Script(lambda body: [f"{TRUE} [{passage_number(body, 'CCTV footage')}]. Payroll records are"], finish="length"))
    answer = assistant_for(llm_settings, fake_embedder).ask(QUESTION)
    assert answer.backend == "openai" and answer.stopped.reason == "length" and "RAG_LLM_MAX_TOKENS" in answer.stopped.message
    assert answer.sentences[-1].text == "Payroll records are" and not answer.sentences[-1].supported


def test_the_answer_round_trips_through_its_json(built, llm, llm_settings, fake_embedder):
    from rag.models import Answer

    llm.reply(reply(TRUE, FALSE))
    answer = assistant_for(llm_settings, fake_embedder).ask(QUESTION)
    again = Answer.from_dict(answer.to_dict())
    assert again.to_dict() == answer.to_dict() and [s.reason for s in again.sentences] == [s.reason for s in answer.sentences]


def test_a_cut_reply_with_nothing_verified_falls_back_saying_nothing_passed(built, llm, llm_settings, fake_embedder):
    llm.reply(Script(lambda body: [f"CCTV footage is kept for 90 days [{passage_number(body, 'CCTV footage')}]. Payroll"], finish="length"))
    answer = assistant_for(llm_settings, fake_embedder).ask(QUESTION)
    assert answer.backend == "extractive" and answer.fallback.reason == "unverified"
    assert "0 of 2 generated sentences passed" in answer.fallback.message


def test_an_uncertain_answer_offers_its_clauses_without_asking_the_model(built, llm, llm_settings, fake_embedder):
    llm.reply(reply(TRUE))
    sure = assistant_for(llm_settings, fake_embedder).ask(QUESTION)
    assert sure.backend == "openai" and len(llm.requests) == 1
    unsure = assistant_for(llm_settings, fake_embedder, answer_threshold=0.999).ask(QUESTION)
    assert unsure.status == "uncertain" and unsure.backend == "extractive" and unsure.model == ""
    assert unsure.answer.startswith("These clauses may answer it") and unsure.citations
    assert len(llm.requests) == 1  # the model was not asked: its sentences would read as an answer
