"""Two `rag serve` replicas on one PostgreSQL database and one index folder, as real processes (the real model, the
mini corpus): a conversation continues across them, a revoked key is refused by both at once, a key's rate limit
holds across both, audit rows from both land in one table, and a scripted run of over 1,000 requests with one replica
killed (SIGKILL) and restarted twice loses no acknowledged conversation, turn, feedback, key change or audit row
while the other keeps answering. `rag serve --workers 2` adds up its workers' metrics at /metrics."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest

from rag.access.audit import AuditLog
from rag.access.keys import KeyStore
from rag.chat.feedback import FeedbackStore
from rag.chat.store import ConversationStore
from tests.replicas import Replica, build_mini, replica_env

pytestmark = pytest.mark.model
RATE, BURST = 5.0, 10
QUESTIONS = ("How long is CCTV footage kept?", "and visitor logs?", "Can I claim a taxi home after working late?",
             "What does the conduct policy say about gifts?", "and who approves it?")


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("replicas")
    settings = build_mini(root, postgres_server.new_database())
    KeyStore(settings).add("root", "*", admin=True)  # keys exist: every request names its key
    env = replica_env(settings, RAG_RATE_LIMIT=str(RATE), RAG_RATE_BURST=str(BURST))
    a, b = Replica("a", root, env).start(), Replica("b", root, env).start()
    try:
        a.wait(), b.wait()
        yield settings, a, b
    finally:
        a.stop(), b.stop()
    assert not any((r.root / "state").exists() and any((r.root / "state").iterdir()) for r in (a, b)), "state written locally"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_conversation_started_on_one_replica_continues_on_the_other(cluster):
    settings, a, b = cluster
    key = KeyStore(settings).add("walker", "staff")[1]
    cid = httpx.post(f"{a.url}/v1/conversations", json={}, headers=bearer(key), timeout=30).json()["id"]
    first = httpx.post(f"{a.url}/v1/conversations/{cid}/messages", json={"question": QUESTIONS[0]}, headers=bearer(key), timeout=60)
    second = httpx.post(f"{b.url}/v1/conversations/{cid}/messages", json={"question": QUESTIONS[1]}, headers=bearer(key), timeout=60)
    assert (first.status_code, first.json()["n"], second.status_code, second.json()["n"]) == (200, 1, 200, 2)
    assert "visitor" in second.json()["answer"]["standalone_question"].lower()  # b read a's turn as the history
    rated = httpx.post(f"{b.url}/v1/feedback", json={"conversation_id": cid, "turn": 1, "rating": "up"}, headers=bearer(key), timeout=30)
    assert rated.status_code == 201
    seen = httpx.get(f"{a.url}/v1/conversations/{cid}", headers=bearer(key), timeout=30).json()
    assert [t["question"] for t in seen["turns"]] == list(QUESTIONS[:2])
    assert [f["turn"] for f in httpx.get(f"{a.url}/v1/feedback", headers=bearer(key), timeout=30).json()["feedback"]] == [1]


def test_a_key_revoked_on_one_is_refused_by_the_other_at_once(cluster):
    settings, a, b = cluster
    key = KeyStore(settings).add("leaver", "staff")[1]
    assert [httpx.get(f"{r.url}/v1/conversations", headers=bearer(key)).status_code for r in (a, b, a, b)] == [200] * 4
    revoked = subprocess.run([sys.executable, "-m", "rag.cli", "keys", "revoke", "leaver"], env=a.env, capture_output=True,
                             text=True, timeout=120)
    assert revoked.returncode == 0, revoked.stderr
    assert [httpx.get(f"{r.url}/v1/conversations", headers=bearer(key)).status_code for r in (b, a, b, a)] == [401] * 4


def test_a_rate_limit_holds_across_both(cluster):
    """The bucket is in the database: the two replicas together grant the burst once, not once each."""
    settings, a, b = cluster
    key = KeyStore(settings).add("hasty", "staff")[1]
    started = time.monotonic()
    codes = [httpx.get(f"{r.url}/v1/conversations", headers=bearer(key)).status_code for r in [a, b] * 15]
    elapsed = time.monotonic() - started
    granted = codes.count(200)
    assert set(codes) <= {200, 429} and granted >= BURST
    assert granted <= BURST + RATE * elapsed + 1, (granted, elapsed)  # two buckets of their own would grant 2 x BURST


def test_audit_rows_from_both_land_in_one_table(cluster):
    settings, a, b = cluster
    key = KeyStore(settings).add("reader", "staff")[1]
    for replica in (a, b, b):
        assert httpx.post(f"{replica.url}/v1/ask", json={"question": QUESTIONS[0]}, headers=bearer(key), timeout=60).status_code == 200
    rows = AuditLog(settings).search(key="reader")
    assert [r.route for r in rows] == ["POST /v1/ask"] * 3 and all("retention.md" in r.documents for r in rows)


class Router:
    """A load balancer of the test: round robin over the replicas that answer, failing over when one is down."""

    def __init__(self, *replicas: Replica) -> None:
        self.replicas, self.down = replicas, set[str]()
        self.turn = itertools.cycle(replicas)
        self.sent = self.failed_over = self.server_errors = 0

    def send(self, method: str, path: str, key: str, **body: object) -> httpx.Response | None:
        for _ in range(2 * len(self.replicas)):
            replica = next(self.turn)
            if replica.name in self.down:
                continue
            self.sent += 1
            try:
                response = httpx.request(method, f"{replica.url}{path}", headers=bearer(key), timeout=60, **body)  # type: ignore[arg-type]
            except httpx.TransportError:
                self.failed_over += 1  # killed under it: the answer never came, so nothing was acknowledged
                continue
            self.server_errors += response.status_code >= 500
            if response.status_code == 429:
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            return response
        return None


def test_a_scripted_run_with_a_replica_killed_twice_loses_nothing_acknowledged(cluster):
    settings, a, b = cluster
    store = KeyStore(settings)
    clients = {f"client{n}": store.add(f"client{n}", "staff")[1] for n in range(20)}
    router = Router(a, b)
    conversation: dict[str, str] = {}
    turns: dict[str, list[tuple[int, str]]] = {}  # acknowledged (n, question) of each conversation
    ratings: dict[tuple[str, str, int], str] = {}  # acknowledged (owner, conversation, turn) -> rating
    asks = dict.fromkeys(clients, 0)
    answered_revoked = revocations = 0
    kills = {350: "first", 700: "second"}
    for i in range(1050):
        name = f"client{i % 20}"
        key, step = clients[name], (i // 20) % 8
        if i in kills:  # SIGKILL `a` while one of its answers is being written, and start it again
            inflight = threading.Thread(target=lambda: router.send("POST", "/v1/ask", key, json={"question": QUESTIONS[2]}))
            inflight.start()
            time.sleep(0.03)
            a.kill9()
            router.down.add("a")
            inflight.join()
            a.start()
        if "a" in router.down and i % 10 == 0 and a.ready():
            router.down.discard("a")
        if name not in conversation or step == 0:
            made = router.send("POST", "/v1/conversations", key, json={})
            if made is not None and made.status_code == 201:
                conversation[name] = made.json()["id"]
                turns[conversation[name]] = []
            continue
        cid = conversation[name]
        if step in (1, 2, 3, 4) and len(turns[cid]) < 40:
            question = QUESTIONS[(i + step) % len(QUESTIONS)]
            reply = router.send("POST", f"/v1/conversations/{cid}/messages", key, json={"question": question})
            if reply is not None and reply.status_code == 200:
                turns[cid].append((reply.json()["n"], question))
        elif step == 5 and turns[cid]:
            n, rating = turns[cid][-1][0], ("up", "down")[i % 2]
            rated = router.send("POST", "/v1/feedback", key, json={"conversation_id": cid, "turn": n, "rating": rating})
            if rated is not None and rated.status_code == 201:
                ratings[(name, cid, n)] = rating
        elif step == 6:
            asked = router.send("POST", "/v1/ask", key, json={"question": QUESTIONS[i % 3]})
            asks[name] += asked is not None and asked.status_code == 200
        elif step == 7 and i % 4 == 3:  # a key change: one made, used, revoked, then refused everywhere at once
            temp = store.add(f"temp{i}", "staff")[1]
            assert router.send("GET", "/v1/conversations", temp).status_code == 200  # type: ignore[union-attr]
            store.revoke(f"temp{i}")
            revocations += 1
            for replica in (r for r in (a, b) if r.name not in router.down):
                answered_revoked += httpx.get(f"{replica.url}/v1/conversations", headers=bearer(temp)).status_code != 401
        else:
            router.send("GET", f"/v1/conversations/{cid}", key)
    a.wait()
    print(f"scripted run: {router.sent} requests ({router.failed_over} failed over), {len(conversation)} conversations, "
          f"{sum(map(len, turns.values()))} turns, {len(ratings)} ratings, {sum(asks.values())} asks, {revocations} "
          f"revocations, {a.starts - 1} SIGKILLs of replica a")  # shown with pytest -s
    assert router.sent >= 1000 and a.starts == 3 and router.server_errors == 0
    assert answered_revoked == 0 and revocations >= 10
    conversations, feedback, audit = ConversationStore(settings), FeedbackStore(settings), AuditLog(settings)
    for name, cid in conversation.items():
        stored = {(t.n, t.question) for t in conversations.get(name, cid).turns}
        assert set(turns[cid]) <= stored, f"lost turns of {cid}"
    for (name, cid, n), rating in ratings.items():
        assert [f.rating for f in feedback.list(name, cid) if f.turn == n] == [rating]
    for name, count in asks.items():
        assert len([r for r in audit.search(key=name) if r.route == "POST /v1/ask"]) >= count
    assert sum(asks.values()) > 50 and len(ratings) > 50 and sum(map(len, turns.values())) > 300


def test_workers_add_up_their_metrics(tmp_path, cluster):
    settings, _, _ = cluster
    env = replica_env(settings.replace(database_url=""), RAG_STATE_DIR=str(tmp_path / "state"))
    served = Replica("workers", tmp_path, env, "--workers", "2").start()
    try:
        served.wait()
        for _ in range(30):
            assert httpx.get(f"{served.url}/healthz").status_code == 200
        scrapes = [httpx.get(f"{served.url}/metrics").text for _ in range(4)]
    finally:
        served.stop()
    counted = [float(m.group(1)) for text in scrapes for m in
               [re.search(r'rag_requests_total\{method="GET",route="/healthz",status="200"\} ([0-9.]+)', text)]]
    assert counted and all(c == 30 for c in counted), counted  # whichever worker answers the scrape, all 30
    assert "rag_build_info" in scrapes[0]
