"""Retrieval of follow-ups: mixed rankings, the new-topic gate, and the assistant's path (mini corpus, fake embedder)."""

from rag.assistant import Assistant
from rag.chat.retrieval import context_share, mix_rankings
from rag.indexing.store import LoadedIndex
from rag.models import Message
from rag.search.retrieval import Filters

FIRST = "Do claims over 500 pounds need approval?"


def _rows(index, doc_id):
    return [row for row, chunk in enumerate(index.chunks) if chunk.doc_id == doc_id]


def test_mixed_scores_weigh_both_rankings_and_the_conversation_documents(built):
    index = LoadedIndex.load(built.folder)
    travel, retention = _rows(index, "travel.txt")[0], _rows(index, "retention.md")[0]
    alone, contextual = [(retention, 1.0), (travel, 0.5)], [(travel, 1.0)]
    assert mix_rankings(alone, contextual, 0.0, 0.0, {}, index) == [(retention, 1.0), (travel, 0.5)]
    mixed = dict(mix_rankings(alone, contextual, 0.5, 0.2, {"travel.txt": 1.0}, index))
    assert mixed == {retention: 0.5, travel: 0.25 + 0.5 + 0.2}


def test_a_long_question_whose_passages_lie_elsewhere_is_a_new_topic(built):
    index = LoadedIndex.load(built.folder)
    elsewhere = [(row, 1.0) for row in _rows(index, "retention.md")]
    documents = {"travel.txt": 1.0}
    assert context_share("and for a director?", elsewhere, documents, index, (5, 10)) == 1.0  # 1 specific word: it needs context
    long_question = "unrelated question: how long is cctv footage kept before deletion when nobody investigates anything"
    assert context_share(long_question, elsewhere, documents, index, (5, 10)) == 0.0
    on_topic = [(_rows(index, "travel.txt")[0], 1.0)]
    assert context_share(long_question, on_topic, documents, index, (5, 10)) == 1.0  # its own passages agree: keep it


def test_a_follow_up_is_answered_from_the_policy_the_conversation_is_about(built, settings, fake_embedder):
    assistant = Assistant(settings, embedder=fake_embedder)
    first = assistant.ask(FIRST)
    assert first.citations[0].doc_id == "travel.txt" and first.standalone_question == FIRST
    alone = assistant.ask("who approves it?")
    assert alone.passages[0].chunk.doc_id == "retention.md"  # 'approved wiping service': the words alone mislead
    history = [Message("user", FIRST), Message("assistant", first.answer, first.citations)]
    follow = assistant.ask("who approves it?", history=history)
    assert follow.question == "who approves it?" and follow.standalone_question == f"who approves it? {FIRST}"
    assert follow.passages[0].chunk.doc_id == "travel.txt"
    joint = Assistant(settings.replace(context_vector="joint"), embedder=fake_embedder).ask("who approves it?", history=history)
    assert joint.passages[0].chunk.doc_id == "travel.txt"
    assert any(c.quote == "3.1 Claims over 500 pounds need approval from a director." for c in joint.citations)


def test_earlier_questions_are_not_embedded_again(built, settings, fake_embedder):
    assistant = Assistant(settings, embedder=fake_embedder)
    assistant.ask(FIRST)
    before = fake_embedder.texts_encoded
    assistant.ask("who approves it?", history=[Message("user", FIRST), Message("assistant", "3.1 Claims need approval [1]")])
    assert fake_embedder.texts_encoded == before + 1  # only the new question


def test_history_as_plain_dicts_works_like_messages(built, settings, fake_embedder):
    assistant = Assistant(settings, embedder=fake_embedder)
    history = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": "3.1 Claims over 500 pounds need approval [1]"}]
    assert assistant.ask("who approves it?", history=history).passages[0].chunk.doc_id == "travel.txt"


GIFTS = """# Gifts Policy

## 5. Approval limits

5.1 The table below sets the approval a gift needs.

| Value per person | Approval needed |
|---|---|
| Up to £50 | None |
| More than £50 and up to £150 | None, but record it in the register |
| More than £150 and up to £500 | Line manager, in advance |
"""


def test_a_follow_up_s_own_amount_picks_the_limit_row_not_the_earlier_turn_s(settings, mini_corpus, fake_embedder):
    from rag.indexing import builds

    (mini_corpus / "gifts.md").write_text(GIFTS, encoding="utf-8")
    builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
    assistant = Assistant(settings.replace(abstain_threshold=0.001), embedder=fake_embedder)
    first = "a supplier offered me a gift worth about 100 quid, can i accept it?"
    gifts = Filters(doc_ids=("gifts.md",))
    rows = lambda answer: [c.quote for c in answer.citations if c.quote.startswith("| ")]  # noqa: E731
    answer = assistant.ask(first, filters=gifts)
    assert rows(answer)[0].startswith("| More than £50 and up to £150"), answer.answer
    history = [Message("user", first), Message("assistant", answer.answer, answer.citations)]
    follow = assistant.ask("what if its more than that, like 300?", history=history, filters=gifts)
    assert rows(follow)[0].startswith("| More than £150 and up to £500"), follow.answer  # 300 is read as £300
