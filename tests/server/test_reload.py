"""A running server follows promotions; requests in flight finish on their own build."""

import threading

from fastapi.testclient import TestClient

from rag.assistant import Assistant
from rag.indexing import builds
from server.app import create_app


def test_admin_reload_swaps_to_the_promoted_build(built, settings, fake_embedder):
    app = create_app(settings.replace(reload_interval=0), Assistant(settings, embedder=fake_embedder))
    with TestClient(app) as client:
        assert client.post("/v1/ask", json={"question": "CCTV"}).json()["build_id"] == built.build_id
        assert client.post("/v1/admin/reload").json() == {"reloaded": False, "build_id": built.build_id}
        newer = builds.build(settings, fake_embedder)
        builds.promote(settings.index_dir, newer.build_id)
        assert client.post("/v1/admin/reload").json() == {"reloaded": True, "build_id": newer.build_id}
        assert client.get("/readyz").json()["build_id"] == newer.build_id
        assert client.post("/v1/ask", json={"question": "CCTV"}).json()["build_id"] == newer.build_id


def test_in_flight_request_finishes_on_the_build_it_started_with(built, settings, fake_embedder):
    assistant = Assistant(settings, embedder=fake_embedder)
    snap = assistant.snapshot
    started, release = threading.Event(), threading.Event()
    original = snap.answerer.answer

    def slow_answer(*args, **kwargs):
        started.set()
        release.wait(10)
        return original(*args, **kwargs)

    object.__setattr__(snap.answerer, "answer", slow_answer)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("answer", assistant.ask("How long is CCTV footage kept?")))
    worker.start()
    assert started.wait(10)
    newer = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, newer.build_id)
    assert assistant.reload()
    release.set()
    worker.join(10)
    assert result["answer"].build_id == built.build_id
    assert assistant.ask("How long is CCTV footage kept?").build_id == newer.build_id


def test_watcher_picks_up_a_promotion_without_a_restart(built, settings, fake_embedder):
    import time

    app = create_app(settings.replace(reload_interval=0.05), Assistant(settings, embedder=fake_embedder))
    with TestClient(app) as client:
        newer = builds.build(settings, fake_embedder)
        builds.promote(settings.index_dir, newer.build_id)
        deadline = time.monotonic() + 10
        while client.get("/readyz").json()["build_id"] != newer.build_id and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/readyz").json()["build_id"] == newer.build_id
