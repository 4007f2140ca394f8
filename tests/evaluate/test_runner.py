import pytest

from rag.assistant import Assistant
from rag.evaluate.gold import load_gold
from rag.evaluate.report import render_report
from rag.evaluate.runner import evaluate
from tests.conftest import FIXTURES

GOLD = FIXTURES / "mini-gold.jsonl"


@pytest.fixture
def run(built, settings, fake_embedder):
    assistant = Assistant(settings, embedder=fake_embedder)
    rows = load_gold(GOLD, assistant.snapshot.index.documents)
    return evaluate(assistant, rows, seed=1)


def test_summary_has_every_metric(run):
    s = run.summary
    assert s["n"] == 6 and s["n_answerable"] == 4
    assert set(s["retrieval"]) == {"hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "recall@10", "budget_recall@512"}
    assert set(s["answer"]) == {"exact_match", "f1", "containment", "citation_precision", "citation_recall", "supported_sentences",
                                "right_citation", "first_citation"}
    for q in s["questions"]:  # the first citation is right only where some citation is
        assert q["first_citation"] is None or q["first_citation"] <= q["right_citation"]
    assert {"precision", "recall", "f1", "false_refusal_rate"} <= set(s["abstention"])
    assert set(s["latency_ms"]) == {"p50", "p95"}
    assert s["index"]["build_id"] and s["index"]["corpus_digest"]
    assert all(lo <= hi for lo, hi in s["ci"].values())


def test_lexical_fake_finds_every_evidence_and_refuses_the_unanswerable(run):
    s = run.summary
    assert s["retrieval"]["hit@5"] == 1.0 and s["retrieval"]["recall@10"] == 1.0 and s["retrieval"]["hit@1"] >= 0.75
    assert s["answer"]["containment"] == 1.0 and s["answer"]["citation_precision"] > 0.5
    assert s["answer"]["supported_sentences"] == 1.0
    assert s["abstention"]["recall"] == 1.0 and s["abstention"]["false_refusal_rate"] == 0.0


def test_report_lists_failures_with_what_was_retrieved(built, settings, fake_embedder):
    strict = settings.replace(abstain_threshold=0.99)  # refuses everything: the answerable rows fail
    assistant = Assistant(strict, embedder=fake_embedder)
    rows = load_gold(GOLD, assistant.snapshot.index.documents)
    report = render_report(evaluate(assistant, rows))
    assert "## Failed questions (4)" in report
    assert "m1: How long is CCTV footage kept?" in report and "refused an answerable question" in report
    assert "retrieved #1 (retention.md" in report


def test_metadata_filter_restricts_search_and_leaves_out_rows_it_excludes(built, settings, fake_embedder):
    from rag.errors import InvalidRequestError

    assistant = Assistant(settings, embedder=fake_embedder)
    rows = load_gold(GOLD, assistant.snapshot.index.documents)
    run = evaluate(assistant, rows, seed=1, metadata={"owner": "Records Manager"})
    kept = [r for r in rows if not r.answerable or any(e.doc_id == "retention.md" for e in r.evidence)]
    assert run.summary["n"] == len(kept) < len(rows)
    assert run.summary["index"]["rows_outside_filter"] == len(rows) - len(kept)
    assert all(p.chunk.doc_id == "retention.md" for r in run.results for p in r.passages)
    with pytest.raises(InvalidRequestError, match="no document matches"):
        evaluate(assistant, rows, metadata={"owner": "nobody"})


def test_rows_with_history_are_asked_as_follow_ups_and_scored_apart(built, settings, fake_embedder, tmp_path):
    import json

    first = "Do claims over 500 pounds need approval?"
    evidence = [{"doc": "travel.txt", "text": "3.1 Claims over 500 pounds need approval from a director."}]
    rows = [{"id": "c1-1", "question": first, "answers": ["director"], "evidence": evidence, "answerable": True},
            {"id": "c1-2", "question": "who approves it?", "answers": ["director"], "evidence": evidence, "answerable": True,
             "history": [{"role": "user", "content": first},
                         {"role": "assistant", "content": "Claims over 500 pounds need a director's approval (Travel Rules, 3.1)."}]}]
    gold = tmp_path / "dialogue.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assistant = Assistant(settings.replace(context_vector="joint"), embedder=fake_embedder)
    run = evaluate(assistant, load_gold(gold, assistant.snapshot.index.documents), seed=1)
    by_turn = run.summary["by_turn"]
    assert by_turn["first"]["n"] == 1 and by_turn["follow_up"]["n"] == 1
    assert by_turn["follow_up"]["retrieval"]["hit@1"] == 1.0  # alone, 'who approves it?' ranks retention.md first
    assert by_turn["follow_up"]["answer"]["right_citation"] == 1.0
    record = next(q for q in run.summary["questions"] if q["id"] == "c1-2")
    assert record["follow_up"] and record["standalone_question"] == f"who approves it? {first}"


def test_an_access_scope_restricts_the_run_to_its_groups_documents(settings, fake_embedder):
    from rag.indexing import builds
    from rag.models import Access
    from tests.server.access_corpus import write_corpus

    write_corpus(settings)
    builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
    assistant = Assistant(settings, embedder=fake_embedder)
    rows = load_gold(GOLD, assistant.snapshot.index.documents)
    staff = evaluate(assistant, rows, seed=1, access=Access("staffer", frozenset({"staff"})))
    assert staff.summary["index"]["access_groups"] == ["staff"] and staff.summary["index"]["rows_outside_filter"] == 0
    assert not {p.chunk.doc_id for r in staff.results for p in r.passages} & {"hr/casework.md", "board-restructuring.md"}
    board = evaluate(assistant, rows, seed=1, access=Access("director", frozenset({"board"})))
    assert board.summary["index"]["rows_outside_filter"] == sum(r.answerable for r in rows) > 0
    assert {p.chunk.doc_id for r in board.results for p in r.passages} <= {"board-restructuring.md"}
