"""Background builds: a new version goes live only through the gate; a refused or failed build leaves the live one."""

from __future__ import annotations

import time

import pytest

from rag.assistant import Assistant
from rag.errors import NotConfiguredError
from rag.indexing import builds
from rag.uploads.files import store_upload
from rag.uploads.jobs import JobStore
from rag.uploads.worker import BuildWorker, gate_golds
from tests.conftest import FIXTURES

GOLD = FIXTURES / "mini-gold.jsonl"
TAXI = "2.3 Taxis after 10 pm are paid up to 40 pounds a journey."


@pytest.fixture
def gated(settings, fake_embedder, tmp_path):
    gate = tmp_path / "gate.toml"
    gate.write_text('[floors]\n"retrieval.hit@5" = 0.75\n')
    gated = settings.replace(upload_gold_files=str(GOLD), gate_file=gate)
    builds.promote(gated.index_dir, builds.build(gated, fake_embedder).build_id)
    return gated


def run_upload(settings, fake_embedder, name: str, raw: bytes):
    store = JobStore(settings)
    stored = store_upload(settings, name, raw)
    job = store.enqueue("root", {stored.doc_id: stored.content_hash})
    worker = BuildWorker(settings, lambda: fake_embedder, store)
    assert worker.run_next() and not worker.run_next()  # one job, run once
    return store.get(job.id)


def test_a_new_version_goes_live_after_its_gate_and_answers(gated, fake_embedder):
    before = builds.current_build_id(gated.index_dir)
    text = (gated.corpus_dir / "travel.txt").read_text().replace("2.2 Hotels abroad", f"{TAXI}\n2.2 Hotels abroad")
    job = run_upload(gated, fake_embedder, "travel.txt", text.encode())
    assert job.state == "live" and job.error is None, job
    assert job.result["gate"]["status"] == "passed" and job.result["eval"]["mini-gold"]["retrieval"]["hit@5"] == 1.0
    assert job.result["changes"]["changed"] == ["travel.txt"] and job.result["health"]["documents"] == 3
    assert builds.current_build_id(gated.index_dir) == job.build_id != before
    answer = Assistant(gated, embedder=fake_embedder).ask("How much are taxis after 10 pm paid?")
    assert TAXI in " ".join(c.quote for c in answer.citations) and answer.build_id == job.build_id


def test_a_version_the_gate_refuses_leaves_the_live_build_and_the_live_file_and_says_why(gated, fake_embedder):
    before = builds.current_build_id(gated.index_dir)
    live_bytes = (gated.corpus_dir / "retention.md").read_bytes()
    gutted = "# Records Retention Rules\n\n1.1 Records are kept as the law requires.\n"
    job = run_upload(gated, fake_embedder, "retention.md", gutted.encode())
    assert job.state == "gate_failed" and job.build_id and job.build_id != before
    assert job.result["gate"]["status"] == "failed" and job.result["restored"] == ["retention.md"]
    assert any("retrieval.hit@5" in f for f in job.result["gate"]["failures"]), job.result
    assert job.result["eval"]["mini-gold"]["retrieval"]["hit@5"] < 0.75
    assert builds.current_build_id(gated.index_dir) == before
    assert (gated.corpus_dir / "retention.md").read_bytes() == live_bytes  # the next build will not carry the refused file


def test_a_refused_new_document_is_removed_and_one_changed_since_is_left(gated, fake_embedder, tmp_path):
    gate = tmp_path / "strict.toml"
    gate.write_text('[floors]\n"retrieval.hit@5" = 1.01\n')  # nothing passes
    strict = gated.replace(gate_file=gate)
    job = run_upload(strict, fake_embedder, "gifts.md", b"# Gifts\n\n1.1 Gifts over 50 pounds are declared.\n")
    assert job.state == "gate_failed" and job.result["restored"] == ["gifts.md"]
    assert not (strict.corpus_dir / "gifts.md").exists()
    from rag.uploads.worker import restore_live_versions

    (strict.corpus_dir / "travel.txt").write_text("Travel Rules\n\n1.1 Edited by hand after the upload.\n")
    assert restore_live_versions(strict, {"travel.txt": "the hash of what the upload wrote"}) == []
    assert "Edited by hand" in (strict.corpus_dir / "travel.txt").read_text()


def test_uploads_need_a_gold_set_to_gate_on(settings):
    with pytest.raises(NotConfiguredError, match="RAG_UPLOAD_GOLD_FILES"):
        gate_golds(settings)  # the mini corpus is not docs_corpus/, and names no gold set
    with pytest.raises(NotConfiguredError, match="not found"):
        gate_golds(settings.replace(upload_gold_files="nowhere/gold.jsonl"))


def test_a_build_that_fails_says_why_and_the_next_job_runs(gated, fake_embedder):
    store = JobStore(gated)
    failing = store.enqueue("root", {"travel.txt": "hash"})
    with builds.build_lock(gated.index_dir):  # someone runs `rag index build` by hand meanwhile
        BuildWorker(gated, lambda: fake_embedder, store).run_next()
    job = store.get(failing.id)
    assert job.state == "failed" and "another build is running" in job.error
    assert store.pending() == 0


def test_two_replicas_on_one_database_build_one_job_at_a_time(gated, fake_embedder, postgres_url):
    shared = gated.replace(database_url=postgres_url)
    store = JobStore(shared)
    jobs = []
    for n, name in enumerate(("gifts.md", "hospitality.md")):
        stored = store_upload(shared, name, f"# Rules {n}\n\n1.1 Item {n} over {50 + n} pounds is declared.\n".encode())
        jobs.append(store.enqueue("root", {stored.doc_id: stored.content_hash}))
    replicas = [BuildWorker(shared, lambda: fake_embedder, JobStore(shared), poll_s=0.05) for _ in range(2)]
    for worker in replicas:
        worker.start()
    try:
        deadline = time.monotonic() + 60
        while not all(store.get(j.id).finished for j in jobs):
            assert time.monotonic() < deadline, [store.get(j.id) for j in jobs]
            time.sleep(0.05)
    finally:
        for worker in replicas:
            worker.stop()
    done = [store.get(j.id) for j in jobs]
    # had both replicas built at once, the index folder's build lock would have failed one ("another build is running")
    assert [j.state for j in done] == ["live", "live"], done
    assert done[0].build_id < done[1].build_id and builds.current_build_id(shared.index_dir) == done[1].build_id
