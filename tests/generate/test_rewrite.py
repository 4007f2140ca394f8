"""The model's rewrite of a follow-up: the checks a rewrite must pass, and the rewrite without a model when it fails."""

import pytest

from rag.assistant import Assistant
from rag.models import Message
from tests.e2e_helpers import free_port
from tests.generate.fake_llm import Script

HISTORY = [Message("user", "How long is CCTV footage kept?"), Message("assistant", "CCTV footage is kept for 30 days. [1]")]
FIRST = "Do claims over 500 pounds need approval?"


@pytest.mark.parametrize("reply, expected", [
    ("How long are payroll records kept?", "How long are payroll records kept?"),
    ("Rewritten question: \"How long are payroll records kept?\"\nThis asks about payroll.", "How long are payroll records kept?"),
    ("  **Standalone question:** How long are payroll records kept? ", "How long are payroll records kept?"),
])
def test_a_good_rewrite_is_cleaned_and_accepted(reply, expected):
    from rag.generate.rewrite import checked_rewrite

    assert checked_rewrite(reply, "and payroll records?", HISTORY, 1000) == (expected, "")


@pytest.mark.parametrize("reply, why", [
    ("", "empty"), ("   \n ", "empty"),
    ("Sure! Here is the rewritten question: How long are payroll records kept?", "a preamble or a refusal"),
    ("I cannot rewrite this question.", "a preamble or a refusal"),
    ("How long are payroll records kept? " * 8, "too long"),
    ("What is the mileage rate for electric company cars?", "words that are not the conversation's"),
    ("How long is CCTV footage kept?", "drops the question's own words"),
])
def test_a_bad_rewrite_is_refused_with_the_reason(reply, why):
    from rag.generate.rewrite import checked_rewrite

    assert checked_rewrite(reply, "and payroll records?", HISTORY, 1000) == (None, why)


def rewriting(settings, fake_embedder, **changes) -> Assistant:
    return Assistant(settings.replace(llm_rewrite=True, **changes), embedder=fake_embedder)


def test_a_follow_up_is_retrieved_with_the_models_rewrite(built, llm, llm_settings, fake_embedder):
    llm.reply(Script(["Who approves claims over 500 pounds?"], stream=False))
    assistant = rewriting(llm_settings, fake_embedder, answerer="openai")
    context = assistant.snapshot.chat.context("who approves it?", [Message("user", FIRST), Message("assistant", "Yes. [1]")])
    assert context.text == "Who approves claims over 500 pounds?" and context.follow_up and context.turns == ()
    prompt = llm.requests[0]
    assert prompt["max_tokens"] == 64 and prompt["messages"][1]["content"].endswith("Last question: who approves it?\nRewritten question:")


@pytest.mark.parametrize("script", [Script(["Sure, happy to help!"]), Script(body="nonsense"), Script(["late"], wait=20)])
def test_a_rewrite_that_fails_leaves_the_rewrite_without_a_model(built, llm, llm_settings, fake_embedder, script):
    llm.reply(script)
    assistant = rewriting(llm_settings, fake_embedder, llm_rewrite_timeout=1.0)
    context = assistant.snapshot.chat.context("who approves it?", [Message("user", FIRST), Message("assistant", "Yes. [1]")])
    assert context.text == f"who approves it? {FIRST}" and context.turns == (FIRST,)


def test_a_first_question_asks_no_model_and_a_down_server_changes_nothing(built, llm_settings, fake_embedder):
    down = rewriting(llm_settings, fake_embedder, llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    assert down.snapshot.chat.context(FIRST, ()).text == FIRST
    assert down.snapshot.chat.context("who approves it?", [Message("user", FIRST)]).text == f"who approves it? {FIRST}"
