"""New versions over HTTP, on a real uvicorn server with keys: admin keys only, the build's checks and messages, the
size limit, names kept under the corpus folder, builds queued one at a time and visible until live or refused, and a
refused upload changing nothing (corpus folder and live build identical)."""

from __future__ import annotations

import time

import httpx
import pytest

from rag.assistant import Assistant
from rag.indexing import builds
from tests.conftest import FIXTURES
from tests.server.access_corpus import build_with_keys, serving

GOLD = FIXTURES / "mini-gold.jsonl"
TAXI = "2.3 Taxis after 10 pm are paid up to 40 pounds a journey."
GIFTS = b"# Gifts Rules\n\n## 1. Gifts\n\n1.1 Gifts worth more than 75 pounds are declared to the compliance team.\n"


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def server(settings, fake_embedder, tmp_path):
    gate = tmp_path / "gate.toml"
    gate.write_text('[floors]\n"retrieval.hit@5" = 0.75\n')
    settings = settings.replace(rate_limit=1000.0, rate_burst=1000, upload_gold_files=str(GOLD), gate_file=gate,
                                max_upload_bytes=50_000, reload_interval=0.2)
    keys = build_with_keys(settings, fake_embedder)
    assistant = Assistant(settings, embedder=fake_embedder)
    with serving(settings, assistant, build_embedder=lambda: fake_embedder) as base:
        yield base, keys, settings


def post(base, key, name, raw, path=None):
    data = {"path": path} if path is not None else None
    return httpx.post(f"{base}/v1/documents", headers={"Authorization": f"Bearer {key}"}, files={"file": (name, raw)},
                      data=data, timeout=60)


def wait_done(base, key, job_id, seconds=60.0):
    deadline = time.monotonic() + seconds
    states = []
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/v1/builds/{job_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        states.append(job["state"])
        if job["finished"]:
            return job, states
        time.sleep(0.1)
    raise AssertionError(f"build {job_id} did not finish: {states[-5:]}")


def ask(base, key, question):
    return httpx.post(f"{base}/v1/ask", json={"question": question}, headers={"Authorization": f"Bearer {key}"}, timeout=60).json()


def test_a_new_version_uploaded_over_http_is_live_after_its_gated_build(server):
    base, keys, settings = server
    text = (settings.corpus_dir / "travel.txt").read_text().replace("2.2 Hotels abroad", f"{TAXI}\n2.2 Hotels abroad")
    response = post(base, keys.admin, "travel.txt", text.encode())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["doc_id"] == "travel.txt" and body["replaced"] and body["build"]["state"] in ("queued", "building")
    assert response.headers["location"] == f"/v1/builds/{body['build']['id']}"
    job, states = wait_done(base, keys.admin, body["build"]["id"])
    assert job["state"] == "live" and job["result"]["gate"]["status"] == "passed", job
    assert job["requested_by"] == "root" and job["documents"] == ["travel.txt"]
    assert set(states) <= {"queued", "building", "live"}
    deadline = time.monotonic() + 30
    while ask(base, keys.staff, "How much are taxis after 10 pm paid?")["build_id"] != job["build_id"]:
        assert time.monotonic() < deadline, "the server did not load the promoted build"
        time.sleep(0.2)
    answer = ask(base, keys.staff, "How much are taxis after 10 pm paid?")
    assert any(TAXI in c["quote"] for c in answer["citations"]), answer
    listed = httpx.get(f"{base}/v1/builds", headers={"Authorization": f"Bearer {keys.admin}"}, timeout=30).json()["builds"]
    assert listed[0]["id"] == job["id"]
    same = post(base, keys.admin, "travel.txt", text.encode())
    assert same.status_code == 200 and same.json()["unchanged"] and same.json()["build"] is None


def test_only_admin_keys_upload_or_see_builds(server):
    base, keys, settings = server
    before = snapshot(settings.corpus_dir)
    refused = post(base, keys.staff, "gifts.md", GIFTS)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "forbidden"
    assert httpx.get(f"{base}/v1/builds", headers={"Authorization": f"Bearer {keys.staff}"}, timeout=30).status_code == 403
    assert httpx.post(f"{base}/v1/documents", files={"file": ("gifts.md", GIFTS)}, timeout=30).status_code == 401
    assert snapshot(settings.corpus_dir) == before
    me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {keys.staff}"}, timeout=30).json()
    assert me == {"name": "staffer", "admin": False, "groups": ["staff"]}
    assert httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {keys.admin}"}, timeout=30).json()["admin"] is True


@pytest.mark.parametrize("name,raw,status,message", [
    ("broken.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage", 422, "broken.pdf: "),
    ("empty.md", b"", 422, "empty.md: no text in the file; add content or remove it from the corpus"),
    ("tool.exe", b"MZ binary", 422, "tool.exe: unsupported file type '.exe'"),
    ("big.md", b"# Big\n\n" + b"word " * 12_000, 413, "big.md: 60007 bytes is over the limit of 50000 (RAG_MAX_UPLOAD_BYTES)"),
])
def test_a_damaged_or_oversized_upload_is_refused_and_nothing_changes(server, name, raw, status, message):
    base, keys, settings = server
    corpus, live = snapshot(settings.corpus_dir), builds.current_build_id(settings.index_dir)
    response = post(base, keys.admin, name, raw)
    assert response.status_code == status and response.json()["error"]["message"].startswith(message), response.text
    assert snapshot(settings.corpus_dir) == corpus and builds.current_build_id(settings.index_dir) == live
    assert httpx.get(f"{base}/v1/builds", headers={"Authorization": f"Bearer {keys.admin}"}, timeout=30).json()["builds"] == []


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(server):
    base, keys, settings = server
    corpus = snapshot(settings.corpus_dir)
    response = post(base, keys.admin, "huge.md", b"# Huge\n\n" + b"x" * 200_000)
    assert response.status_code == 413 and "RAG_MAX_UPLOAD_BYTES" in response.json()["error"]["message"]
    assert snapshot(settings.corpus_dir) == corpus


@pytest.mark.parametrize("path", ["../escape.md", "../../tmp/escape.md", "/tmp/escape.md", "..\\escape.md", ".hidden.md",
                                  "sub/../../escape.md", "\u202eevil.md"])
def test_names_that_would_leave_the_corpus_folder_are_refused(server, path):
    base, keys, settings = server
    around = settings.corpus_dir.parent  # the test's folder: corpus and index (the state folder's database changes)
    before = {part: snapshot(around / part) for part in ("corpus", "index")}
    response = post(base, keys.admin, "gifts.md", GIFTS, path=path)
    assert response.status_code == 422 and "plain name such as" in response.json()["error"]["message"], response.text
    assert {part: snapshot(around / part) for part in ("corpus", "index")} == before
    landing = [around / "escape.md", around.parent / "tmp" / "escape.md", around / "evil.md"]  # where each would land
    assert not any(p.exists() for p in landing) and sorted(p.name for p in around.iterdir()) == ["corpus", "gate.toml", "index", "state"]


def test_a_second_upload_while_one_builds_is_queued_and_both_go_live(server):
    base, keys, settings = server
    first = post(base, keys.admin, "policies/gifts.md", GIFTS).json()["build"]
    second = post(base, keys.admin, "Cadeaux d\u00e9clar\u00e9s.md", GIFTS.replace(b"75", b"80").replace(b"Gifts Rules", b"Cadeaux")).json()
    assert second["doc_id"] == "Cadeaux d\u00e9clar\u00e9s.md"
    one, _ = wait_done(base, keys.admin, first["id"])
    two, _ = wait_done(base, keys.admin, second["build"]["id"])
    assert one["state"] == two["state"] == "live" and one["updated_at"] <= two["updated_at"]
    assert (settings.corpus_dir / "policies" / "gifts.md").read_bytes() == GIFTS
    live = builds.live_build(settings.index_dir).manifest["corpus"]["documents"]
    assert {"policies/gifts.md", "Cadeaux d\u00e9clar\u00e9s.md"} <= set(live)


def test_a_version_the_gate_refuses_stays_out_and_the_job_says_why(server):
    base, keys, settings = server
    live = builds.current_build_id(settings.index_dir)
    response = post(base, keys.admin, "retention.md", b"# Records Retention Rules\n\n1.1 Records are kept as the law requires.\n")
    job, _ = wait_done(base, keys.admin, response.json()["build"]["id"])
    assert job["state"] == "gate_failed" and any("retrieval.hit@5" in f for f in job["result"]["gate"]["failures"])
    assert job["result"]["eval"]["mini-gold"]["retrieval"]["hit@5"] < 0.75
    assert builds.current_build_id(settings.index_dir) == live and job["result"]["restored"] == ["retention.md"]
    assert b"30 days" in (settings.corpus_dir / "retention.md").read_bytes()  # the live version is back in the folder
    answer = ask(base, keys.staff, "How long is CCTV footage kept?")
    assert answer["build_id"] == live and any("30 days" in c["quote"] for c in answer["citations"])
