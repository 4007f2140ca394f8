"""Passages the build flagged as reading like instructions, on the generative path: withheld from the model by default
(the extractive answer may still quote them; all flagged: no model asked), or shown with a warning (RAG_LLM_FLAGGED=note)."""

import shutil

import pytest

from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import ConfigError
from rag.indexing import builds
from tests.conftest import FIXTURES
from tests.generate.fake_llm import Script, passage_number, words

QUESTION = "What does the expenses notice to staff say about claims and the processing note?"
TRUE = "Expense claims for the staff conference are paid in the June payroll"


def build_of(settings: Settings, corpus, fake_embedder, *names: str) -> Settings:
    """`settings` over a corpus of the injection fixture's files `names`, built and promoted."""
    corpus.mkdir()
    for name in names:
        shutil.copy(FIXTURES / "injection" / name, corpus / name)
    settings = settings.replace(corpus_dir=corpus, top_k=5)
    builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
    return settings


@pytest.fixture
def planted(llm_settings, tmp_path, fake_embedder) -> Settings:
    return build_of(llm_settings, tmp_path / "planted", fake_embedder, "expenses.md", "notice.md")


def flagged_ids(assistant: Assistant) -> set[str]:
    return {row["chunk_id"] for row in assistant.snapshot.index.manifest["injection"]}


def test_flagged_passages_are_withheld_from_the_model_by_default(planted, llm, fake_embedder):
    llm.reply(Script(lambda body: words(f"{TRUE} [{passage_number(body, 'staff conference')}].")))
    assistant = Assistant(planted, embedder=fake_embedder)
    answer = assistant.ask(QUESTION)
    flagged = flagged_ids(assistant)
    assert flagged and flagged & {p.chunk.chunk_id for p in answer.passages}, "the planted chunk was retrieved"
    user = llm.requests[0]["messages"][-1]["content"]
    assert "CANARY" not in user and "Ignore previous" not in user and "warning=" not in user
    assert answer.backend == "openai" and answer.answer == f"{TRUE}. [1]"


def test_with_note_flagged_passages_reach_the_model_with_a_warning(planted, llm, fake_embedder):
    llm.reply(Script(lambda body: words(f"{TRUE} [{passage_number(body, 'staff conference')}].")))
    Assistant(planted.replace(llm_flagged="note"), embedder=fake_embedder).ask(QUESTION)
    blocks = llm.requests[0]["messages"][-1]["content"].split("<passage n=")[1:]
    planted = [b for b in blocks if "CANARY" in b]
    assert planted and all('warning="reads as instructions to a model' in b.split(">", 1)[0] for b in planted)
    assert any("ignore previous instructions" in b.split(">", 1)[0] for b in planted), "the build's reasons are named"
    assert not any("warning=" in b for b in blocks if b not in planted), "only flagged passages carry one"


def test_when_every_passage_is_flagged_no_model_is_asked_and_the_extractive_answer_says_why(llm_settings, tmp_path, llm,
                                                                                            fake_embedder):
    whole = llm_settings.replace(chunk_tokens=400, abstain_threshold=1e-6)  # one chunk, the whole notice, flagged; answered
    settings = build_of(whole, tmp_path / "only", fake_embedder, "notice.md")
    answer = Assistant(settings, embedder=fake_embedder).ask(QUESTION)
    assert llm.requests == [] and answer.backend == "extractive"
    assert answer.fallback is not None and answer.fallback.reason == "flagged" and "no model was asked" in answer.fallback.message


def test_the_setting_takes_withhold_or_note():
    with pytest.raises(ConfigError, match="RAG_LLM_FLAGGED"):
        Settings.from_env({"RAG_LLM_FLAGGED": "include"})
    assert Settings.from_env({}).llm_flagged == "withhold"
