"""The build queue in the state database (SQLite and a real PostgreSQL): one build at a time across replicas, a dead
server's build queued again, states and progress kept across a restart."""

from __future__ import annotations

import time

import pytest

from rag.errors import NotFoundError
from rag.uploads.jobs import RESTARTED, JobStore


@pytest.fixture
def stores(settings, database_url):
    """Two stores on one database: two replicas' views of the queue."""
    shared = settings.replace(database_url=database_url)
    return JobStore(shared), JobStore(shared)


def test_jobs_are_kept_and_listed_newest_first(stores):
    one, _ = stores
    first = one.enqueue("root", {"travel.txt": "hash"})
    second = one.enqueue("root", {"retention.md": "hash"})
    assert first.state == "queued" and first.documents == ("travel.txt",) and first.requested_by == "root"
    assert [j.id for j in one.list()] == [second.id, first.id]
    assert one.get(first.id) == first and one.pending() == 2 and one.uploads(first.id) == {"travel.txt": "hash"}
    with pytest.raises(NotFoundError, match="GET /v1/builds"):
        one.get("bld_missing")


def test_only_one_replica_builds_at_a_time_and_the_next_job_waits(stores):
    a, b = stores
    first, second = a.enqueue("root", {"a.md": "hash"}), a.enqueue("root", {"b.md": "hash"})
    claimed = a.claim("replica-a", 60)
    assert claimed.id == first.id and claimed.state == "building"
    assert b.claim("replica-b", 60) is None and a.claim("replica-a", 60) is None  # one build at a time, anywhere
    assert b.get(second.id).state == "queued"
    assert a.progress(first.id, "replica-a", 60, "embedding", 3, 10)
    assert not b.progress(first.id, "replica-b", 60, "embedding", 9, 10)  # not b's to write
    seen = b.get(first.id)
    assert (seen.stage, seen.done, seen.total) == ("embedding", 3, 10)
    assert a.finish(first.id, "replica-a", "live", "build-1", {"gate": {"status": "passed"}})
    assert b.claim("replica-b", 60).id == second.id
    done = b.get(first.id)
    assert done.state == "live" and done.finished and done.result == {"gate": {"status": "passed"}} and done.build_id == "build-1"


def test_a_build_whose_server_died_is_queued_again_and_claimed_by_another(stores):
    a, b = stores
    job = a.enqueue("root", {"a.md": "hash"})
    a.claim("replica-a", 0.2)  # replica a dies: its lease is never renewed
    assert b.claim("replica-b", 60) is None
    time.sleep(0.3)
    again = b.claim("replica-b", 60)
    assert again.id == job.id and again.state == "building" and again.error == RESTARTED
    assert not a.finish(job.id, "replica-a", "live", "late")  # the dead replica's late word does not count
    assert b.finish(job.id, "replica-b", "failed", error="boom") and b.get(job.id).error == "boom"


def test_the_queue_survives_a_restart(settings):
    job = JobStore(settings).enqueue("root", {"a.md": "hash"})
    reopened = JobStore(settings)  # a new server process on the same state folder
    assert reopened.get(job.id).state == "queued" and reopened.claim("after-restart", 60).id == job.id
