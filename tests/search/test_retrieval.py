import pytest

from rag.assistant import Assistant
from rag.errors import InvalidRequestError
from rag.search.retrieval import Filters


@pytest.fixture
def assistant(built, settings, fake_embedder):
    return Assistant(settings, embedder=fake_embedder)


def test_search_ranks_the_passage_sharing_the_words(assistant):
    result = assistant.search("payroll records kept years", k=3)
    top = result.passages[0]
    assert top.rank == 1 and top.chunk.doc_id == "retention.md" and "Payroll records" in top.chunk.text
    assert [p.rank for p in result.passages] == [1, 2, 3]
    assert result.passages[0].score >= result.passages[1].score
    assert result.build_id == assistant.build_id


def test_filter_by_document_id(assistant):
    result = assistant.search("payroll records", k=5, filters=Filters(doc_ids=("travel.txt",)))
    assert result.passages and {p.chunk.doc_id for p in result.passages} == {"travel.txt"}


def test_filter_by_metadata(assistant):
    result = assistant.search("approval", k=5, filters=Filters(metadata={"owner": "finance director"}))
    assert {p.chunk.doc_id for p in result.passages} == {"travel.txt"}
    assert assistant.search("approval", filters=Filters(metadata={"owner": "nobody"})).passages == ()
    assert assistant.search("approval", filters=Filters(metadata={"colour": "blue"})).passages == ()


def test_a_filter_naming_no_document_finds_nothing(assistant):
    assert assistant.search("payroll", filters=Filters(doc_ids=("missing.md",))).passages == ()
    assert assistant.ask("How long are payroll records kept?", filters=Filters(doc_ids=("missing.md", ""))).abstained


@pytest.mark.parametrize("question", ["", "   ", "x" * 1001])
def test_empty_or_huge_questions_are_refused(assistant, question):
    with pytest.raises(InvalidRequestError):
        assistant.search(question)


@pytest.mark.parametrize("k", [0, 51, -3])
def test_k_out_of_range_is_refused(assistant, k):
    with pytest.raises(InvalidRequestError, match="k must be between"):
        assistant.search("payroll", k=k)


def _rank_of(assistant, question, needle):
    return next(p.rank for p in assistant.search(question, k=5).passages if needle in p.chunk.text)


def test_a_named_clause_number_lifts_the_passage_carrying_it(built, settings, fake_embedder):
    boosted = Assistant(settings.replace(rerank_weight=0.0, reference_boost=1.0), embedder=fake_embedder)
    plain = Assistant(settings.replace(rerank_weight=0.0, reference_boost=0.0), embedder=fake_embedder)
    question = "What does clause 2.2 of the retention rules say?"
    assert _rank_of(boosted, question, "2.2 CCTV footage") < _rank_of(plain, question, "2.2 CCTV footage")
    top = boosted.search(question, k=1).passages[0].chunk
    assert top.section[-1] == "2.2" or "\n2.2 " in top.text  # the clause itself (or its table), not a mention of it


def test_reranking_can_be_switched_off(built, settings, fake_embedder):
    plain = Assistant(settings.replace(rerank_weight=0.0, reference_boost=0.0, term_boost=0.0), embedder=fake_embedder)
    result = plain.search("payroll records kept years", k=3)
    assert result.passages[0].chunk.doc_id == "retention.md"


def test_rerank_mixes_each_sentence_cosine_with_its_share_of_the_question_words(built, settings, fake_embedder):
    from rag.search.query_terms import question_words

    question = "Is CCTV footage kept?"
    scores = {}
    for share in (0.0, 1.0):
        retriever = Assistant(settings.replace(rerank_coverage=share), embedder=fake_embedder).snapshot.retriever
        vector = retriever.embed(question)
        rows = {row: c for row, c in enumerate(retriever.index.chunks)}
        cctv = next(row for row, c in rows.items() if "CCTV footage is kept" in c.text)
        other = next(row for row, c in rows.items() if "CCTV" not in c.text and c.doc_id == "travel.txt")
        shares = retriever.index.term_stats.shares(question_words(question))
        scores[share] = {name: retriever._best_sentence(vector, shares, row)
                         for name, row in (("cctv", cctv), ("other", other))}
    assert scores[1.0] == {"cctv": 1.0, "other": 0.0}  # coverage alone: the sentence holds every question word
    assert 0.0 < scores[0.0]["cctv"] < 1.0  # cosine alone: the sentence has more words than the question


def test_fusion_leans_on_bm25_as_questions_name_more_specific_words(assistant):
    retriever = assistant.snapshot.retriever
    short = "How long is CCTV footage kept?"  # 3 specific words
    long = ("Which approval, receipt and itemised invoice evidence must a contractor submit for overseas hotel, rail, "
            "taxi and meal expenses?")
    middle = "Who approves overseas hotel expenses and receipts for contractors travelling by rail?"  # 8 specific words
    assert retriever.dense_weight(short) == pytest.approx(0.5)
    assert retriever.dense_weight(long) == pytest.approx(0.2)
    assert retriever.dense_weight(middle) == pytest.approx(0.5 + (8 - 6) / 5 * (0.2 - 0.5))
