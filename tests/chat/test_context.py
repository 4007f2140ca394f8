"""The standalone question and the conversation's documents, on the mini corpus (fake embedder)."""

from rag.chat.context import ContextConfig, HistoryRewriter, build_context
from rag.config import Settings
from rag.indexing.store import LoadedIndex
from rag.models import Citation, Message

HISTORY = (Message("user", "How long are payroll records kept?"),
           Message("assistant", "2.1 Payroll records are kept for 6 years after the end of the tax year. [1]"),
           Message("user", "Do claims over 500 pounds need approval?"),
           Message("assistant", "3.1 Claims over 500 pounds need approval from a director. [1]"))


def test_a_first_turn_is_its_own_standalone_question(built, settings):
    context = HistoryRewriter(settings).rewrite("How long is CCTV kept?", (), LoadedIndex.load(built.folder))
    assert context.text == "How long is CCTV kept?" and not context.follow_up and not context.documents


def test_the_standalone_question_is_the_question_then_the_earlier_user_turns_most_recent_first(built):
    index = LoadedIndex.load(built.folder)
    context = build_context("who approves it?", HISTORY, index, ContextConfig(user_turns=1, answers=0, decay=0.5))
    assert context.text == "who approves it? Do claims over 500 pounds need approval?" and context.follow_up
    both = build_context("who approves it?", HISTORY, index, ContextConfig(user_turns=5, answers=1, decay=0.5))
    assert both.text == ("who approves it? Do claims over 500 pounds need approval? How long are payroll records kept? "
                         "3.1 Claims over 500 pounds need approval from a director.")  # the answer's marker is dropped


def test_answers_without_citations_are_located_by_their_words_and_recent_ones_weigh_more(built):
    documents = build_context("and abroad?", HISTORY, LoadedIndex.load(built.folder), ContextConfig(1, 0, 0.5)).documents
    assert set(documents) == {"retention.md", "travel.txt"}
    assert documents["travel.txt"] == 2 * documents["retention.md"] and abs(sum(documents.values()) - 1) < 1e-9


def test_citations_name_the_documents_when_the_history_keeps_them(built):
    cited = Citation(1, "conduct.html", "Code of Conduct", "1. Gifts", None, 0, 10, "Staff may a")
    history = (Message("user", "Can I accept a gift?"), Message("assistant", "Payroll words that BM25 would place elsewhere", (cited,)))
    documents = build_context("and above that?", history, LoadedIndex.load(built.folder), ContextConfig(1, 0, 0.5)).documents
    assert documents == {"conduct.html": 1.0}


def test_the_rewriter_follows_the_settings(built):
    settings = Settings.from_env({}, context_turns=0)
    context = HistoryRewriter(settings).rewrite("who approves it?", HISTORY, LoadedIndex.load(built.folder))
    assert context.text == "who approves it?" and not context.follow_up  # no earlier turn added: asked alone
