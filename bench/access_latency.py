"""Access-control overhead: in-process question latency with API keys on vs off.

One assistant (the real model and an existing index) is served by two apps in this process (FastAPI TestClient, no
network): one whose state folder holds no key (open: every document), one whose state folder holds a key. A share
of the documents (`--restricted-share`, default 0.3) is put in group `hr` in memory and the key holds `staff` only,
so keyed requests take the scoped path (bearer check, key lookup, restricted retrieval). Questions alternate between
the two apps, the same question on both, each first half the time, with the cache of question vectors emptied
before every request (else the second would skip the model), so drift in the machine's load falls on both. Prints p50 and p95 of
POST /v1/ask for each, and the median of the paired differences; the last line is `RESULT {json}`.

Usage: PYTHONPATH=. .venv/bin/python bench/access_latency.py [--index-dir DIR] [--questions FILE] [--n N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from rag.access.keys import KeyStore
from rag.assistant import Assistant
from rag.config import Settings
from server.app import create_app


def questions(path: Path) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line)["question"] if line.lstrip().startswith("{") else line for line in lines]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    return ordered[low] + (ordered[min(low + 1, len(ordered) - 1)] - ordered[low]) * (pos - low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--questions", type=Path, default=Path("eval/gold/docs_corpus.jsonl"))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--restricted-share", type=float, default=0.3)
    args = parser.parse_args()
    base = Settings.from_env(index_dir=args.index_dir)
    with tempfile.TemporaryDirectory() as off_dir, tempfile.TemporaryDirectory() as on_dir:
        off, on = base.replace(state_dir=Path(off_dir), reload_interval=0.0), base.replace(state_dir=Path(on_dir), reload_interval=0.0, rate_limit=0.0)
        key = KeyStore(on).add("bench", "staff")[1]
        assistant = Assistant(base)
        assistant.warm_up()
        index = assistant.snapshot.index
        docs = sorted(index.documents)
        hidden = set(docs[:: max(1, round(1 / args.restricted_share))]) if args.restricted_share > 0 else set()
        index.manifest["access"] = {"documents": {d: ["hr"] if d in hidden else ["staff"] for d in docs}}
        asked = questions(args.questions)
        timings: dict[str, list[float]] = {"off": [], "on": []}
        with TestClient(create_app(off, assistant)) as open_client, TestClient(create_app(on, assistant)) as keyed_client:
            headers = {"on": {"Authorization": f"Bearer {key}"}, "off": {}}
            clients = {"off": open_client, "on": keyed_client}
            for i in range(args.n + 10):
                question = asked[i % len(asked)]
                for mode in (("off", "on") if i % 2 else ("on", "off")):  # each goes first half the time
                    assistant.snapshot.chat.vector_cache.clear()  # so neither finds the other's question vector
                    started = time.perf_counter()
                    response = clients[mode].post("/v1/ask", json={"question": question}, headers=headers[mode])
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, response.text
                    if i >= 10:  # the first few warm both paths
                        timings[mode].append(elapsed)
    diffs = [b - a for a, b in zip(timings["off"], timings["on"])]
    result = {"n": args.n, "documents": len(docs), "hidden_from_key": len(hidden),
              **{f"{mode}_p50_ms": round(percentile(v, 0.5), 2) for mode, v in timings.items()},
              **{f"{mode}_p95_ms": round(percentile(v, 0.95), 2) for mode, v in timings.items()},
              "paired_diff_median_ms": round(statistics.median(diffs), 2)}
    print(f"POST /v1/ask in-process, {args.n} questions each: keys off p50 {result['off_p50_ms']} ms (p95 {result['off_p95_ms']}), "
          f"keys on p50 {result['on_p50_ms']} ms (p95 {result['on_p95_ms']}); median paired difference "
          f"{result['paired_diff_median_ms']} ms ({len(hidden)} of {len(docs)} documents outside the key's groups)")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
