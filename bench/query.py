"""Query benchmark: latency percentiles and throughput of search and ask, in-process and over HTTP.

What it measures, against an existing index (build one with `bench/ingest.py CORPUS --index-dir DIR`
or `rag index build --corpus CORPUS --index-dir DIR`):

1. in-process: `Assistant.search` and `Assistant.ask`, called sequentially, N requests each, after
   `Assistant.warm_up()` (model and index loaded; load time reported separately).
2. HTTP: a real server, `python -m rag.cli serve --host 127.0.0.1 --port P --index-dir DIR`, started
   as a subprocess on a free loopback port; once GET /readyz answers 200, POST /v1/search and /v1/ask
   at concurrency 1, 4, 16 and 64 (a pool of C threads sharing one httpx client), N requests per level
   and endpoint after a few untimed warm-up requests; then search at concurrency 1 once more
   ("http-again"), to show whether the first level's figure depends on its place in the run. The
   server is stopped at the end, also on error or SIGTERM.

With `--query-encoders torch,onnx,onnx-int8` the in-process part compares question encoders instead
(`RAG_QUERY_ENCODER`): one loaded index, one assistant per encoder, taking turns question by question, each
question timed through the encoder alone (`embed[...]`) and through `Assistant.search` (`search[...]`),
with p50 speedups over the first encoder; every other measurement honours `RAG_QUERY_ENCODER`.

Latency is wall time per request (client side for HTTP) in ms: p50/p95/p99 by linear interpolation
(with N=100, p99 is close to the maximum). Throughput is completed requests / wall time of the level.
Questions are cycled in file order: a gold JSONL file (`question` field) or plain text, one per line.
Chunker settings and model are taken from the index manifest, so an index built with --chunk-tokens
is served as built. Every level has a deadline (--timeout); requests not started by then are counted
as skipped. The last line printed is `RESULT {json}`.

Usage: .venv/bin/python bench/query.py [--index-dir DIR] [--corpus DIR] [--questions FILE] [--n N] [--query-encoders LIST]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.indexing.builds import BUILDS, current_build_id  # noqa: E402
from rag.indexing.store import read_manifest  # noqa: E402

DEFAULT_QUESTIONS = REPO / "eval" / "gold" / "docs_corpus.jsonl"
CONCURRENCY = (1, 4, 16, 64)
QUERY_ENCODERS = ("torch", "onnx", "onnx-int8")
ENDPOINTS = ("search", "ask")
WARM_UP_REQUESTS = 3
STOP = threading.Event()  # set when the run is interrupted, so load threads stop promptly


# ---------------------------------------------------------------- inputs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/query.py",
        description="Latency (p50/p95/p99) and throughput of search and ask: in-process, then over HTTP "
        "against a uvicorn server started on a free 127.0.0.1 port, at concurrency 1, 4 and 16.",
    )
    parser.add_argument("--index-dir", type=Path, default=REPO / "index", help="Index folder with a live build [default: index/].")
    parser.add_argument("--corpus", type=Path, default=None, help="Corpus folder, passed to the settings (not read for queries).")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS,
                        help="Gold JSONL (`question` field) or text file, one question a line [default: eval/gold/docs_corpus.jsonl].")
    parser.add_argument("--n", type=int, default=200, help="Requests per measurement (each endpoint, each level) [default: 200].")
    parser.add_argument("--timeout", type=float, default=300.0, help="Deadline in seconds for each measurement [default: 300].")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="Seconds to wait for the server's /readyz [default: 180].")
    parser.add_argument("--threads", type=int, default=None,
                        help="Torch CPU threads for the assistant and the server (sets RAG_THREADS) [default: RAG_THREADS or torch's default].")
    parser.add_argument("--query-encoders", default="",
                        help="Comma-separated question encoders (torch, onnx, onnx-int8) to compare in-process, interleaved "
                        "question by question: search and the encoder alone, with p50 ratios to the first. Otherwise "
                        "RAG_QUERY_ENCODER applies to every measurement [default: none].")
    parser.add_argument("--skip-in-process", action="store_true", help="Only the HTTP measurements.")
    parser.add_argument("--skip-http", action="store_true", help="Only the in-process measurements.")
    parser.add_argument("--json", type=Path, default=None,
                        help='Write the figures to this file: {"in_process": {...}, "http": {"ask": {"1": {"rps", "p50", "p95", "p99", '
                        '"errors"}, ...}, "search": {...}}, "server": {...}}.')
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    args.query_encoders = [e.strip() for e in args.query_encoders.split(",") if e.strip()]
    unknown = set(args.query_encoders) - set(QUERY_ENCODERS)
    if unknown:
        parser.error(f"--query-encoders: unknown {', '.join(sorted(unknown))} (choose from {', '.join(QUERY_ENCODERS)})")
    return args


def load_questions(path: Path) -> list[str]:
    """Questions from a JSONL file with a `question` field, or plain text, one per line."""
    if not path.is_file():
        raise SystemExit(f"error: no questions file {path}: pass --questions FILE (gold JSONL or one question a line)")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if lines and lines[0].startswith("{"):
        try:
            questions = [str(json.loads(line)["question"]) for line in lines]
        except (json.JSONDecodeError, KeyError) as exc:
            raise SystemExit(f"error: {path} looks like JSONL but a line has no `question` ({exc}): fix the file or pass a text file")
    else:
        questions = lines
    if not questions:
        raise SystemExit(f"error: {path} has no questions")
    return questions


def index_settings(index_dir: Path, corpus: Path | None, threads: int | None = None) -> tuple[Settings, dict[str, Any]]:
    """Settings matching the live build's model and chunker, and its manifest; exits with the next step if none."""
    build_id = current_build_id(index_dir)
    if build_id is None:
        raise SystemExit(
            f"error: no index at {index_dir}: run bench/ingest.py CORPUS --index-dir {index_dir} "
            f"(or rag index build --corpus CORPUS --index-dir {index_dir})"
        )
    manifest = read_manifest(index_dir / BUILDS / build_id)
    chunker = manifest.get("chunker", {})
    settings = Settings.from_env(
        corpus_dir=corpus, index_dir=index_dir, model=manifest.get("model", {}).get("name"),
        chunk_tokens=chunker.get("max_tokens"), chunk_overlap=chunker.get("overlap_tokens"), threads=threads,
    )
    return settings, manifest


def cycled(questions: Sequence[str], n: int) -> list[str]:
    return [questions[i % len(questions)] for i in range(n)]


# ---------------------------------------------------------------- measuring


@dataclass
class Measurement:
    mode: str
    endpoint: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    skipped: int = 0
    wall_s: float = 0.0
    first_error: str = ""

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.asarray([np.nan])
        p50, p90, p95, p99 = (float(np.percentile(lat, q)) for q in (50, 90, 95, 99))
        ok = len(self.latencies_ms)
        return {
            "mode": self.mode, "endpoint": self.endpoint, "concurrency": self.concurrency,
            "ok": ok, "errors": self.errors, "skipped": self.skipped,
            "p50_ms": round(p50, 2), "p90_ms": round(p90, 2), "p95_ms": round(p95, 2), "p99_ms": round(p99, 2),
            "req_per_s": round(ok / self.wall_s, 2) if self.wall_s else 0.0,
            "wall_s": round(self.wall_s, 2), **({"first_error": self.first_error} if self.first_error else {}),
        }


def run_level(m: Measurement, call: Callable[[str], None], questions: Sequence[str], deadline_s: float) -> Measurement:
    """Send every question through `call` from `m.concurrency` threads; stop starting new ones at the deadline."""
    pending: Iterator[str] = iter(questions)
    lock = threading.Lock()
    stop_at = time.perf_counter() + deadline_s

    def worker() -> None:
        while True:
            with lock:
                question = next(pending, None)
                if question is not None and (STOP.is_set() or time.perf_counter() > stop_at):
                    m.skipped += 1
                    continue
            if question is None:
                return
            started = time.perf_counter()
            try:
                call(question)
            except Exception as exc:  # a benchmark counts failures; it does not stop on them
                with lock:
                    m.errors += 1
                    m.first_error = m.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            with lock:
                m.latencies_ms.append(1000 * (time.perf_counter() - started))

    started = time.perf_counter()
    with ThreadPoolExecutor(m.concurrency) as pool:
        try:
            for future in [pool.submit(worker) for _ in range(m.concurrency)]:
                future.result()
        except BaseException:
            STOP.set()
            raise
    m.wall_s = time.perf_counter() - started
    return m


# ---------------------------------------------------------------- in-process


def bench_in_process(settings: Settings, questions: list[str], n: int, deadline_s: float) -> tuple[list[Measurement], float]:
    from rag.assistant import Assistant

    started = time.perf_counter()
    assistant = Assistant(settings)
    assistant.warm_up()
    load_s = time.perf_counter() - started
    calls = {"search": assistant.search, "ask": assistant.ask}
    results = []
    for endpoint in ENDPOINTS:
        for q in questions[:WARM_UP_REQUESTS]:
            calls[endpoint](q)
        results.append(run_level(Measurement("in-process", endpoint, 1), calls[endpoint], cycled(questions, n), deadline_s))
    return results, load_s


def bench_query_encoders(settings: Settings, questions: list[str], n: int, encoders: Sequence[str]) -> tuple[list[Measurement], dict[str, Any]]:
    """Search and the encoder alone for each question encoder, on one loaded index and one embedder, taking
    turns question by question so that a busy machine slows every encoder alike."""
    from rag.assistant import Assistant

    first = Assistant(settings.replace(query_encoder=encoders[0]))
    index = first.snapshot.index
    assistants = [first] + [Assistant(settings.replace(query_encoder=e), first.embedder, index) for e in encoders[1:]]
    searches = {e: Measurement(f"search[{e}]", "search", 1) for e in encoders}
    embeds = {e: Measurement(f"embed[{e}]", "embed", 1) for e in encoders}
    load_s = {}
    for encoder, assistant in zip(encoders, assistants):
        started = time.perf_counter()
        assistant.warm_up()
        load_s[encoder] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    for question in cycled(questions, n):
        for encoder, assistant in zip(encoders, assistants):
            retriever = assistant.snapshot.retriever
            t0 = time.perf_counter()
            retriever.embed(question)
            t1 = time.perf_counter()
            assistant.search(question)
            t2 = time.perf_counter()
            embeds[encoder].latencies_ms.append(1000 * (t1 - t0))
            searches[encoder].latencies_ms.append(1000 * (t2 - t1))
    wall = time.perf_counter() - started
    for m in (*searches.values(), *embeds.values()):
        m.wall_s = wall
    base = {kind: float(np.median(group[encoders[0]].latencies_ms)) for kind, group in (("search", searches), ("embed", embeds))}
    ratios = {f"{kind}[{e}]": round(base[kind] / float(np.median(group[e].latencies_ms)), 2)
              for kind, group in (("search", searches), ("embed", embeds)) for e in encoders}
    return [*searches.values(), *embeds.values()], {"warm_up_s": load_s, "p50_speedup_vs_" + encoders[0]: ratios}


# ---------------------------------------------------------------- HTTP server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(settings: Settings) -> dict[str, str]:
    """The environment for the server: ours, with the chunker/model settings the index was built with."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.update(RAG_MODEL=settings.model, RAG_CHUNK_TOKENS=str(settings.chunk_tokens), RAG_CHUNK_OVERLAP=str(settings.chunk_overlap),
               RAG_THREADS=str(settings.threads))
    return env


def start_server(settings: Settings, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--index-dir", str(settings.index_dir)]
    if settings.corpus_dir:
        command += ["--corpus", str(settings.corpus_dir)]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=REPO, env=server_env(settings), stdout=log, stderr=subprocess.STDOUT)


def log_tail(log_path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def wait_ready(proc: subprocess.Popen[bytes], base: str, log_path: Path, timeout_s: float) -> dict[str, Any]:
    """Poll GET /readyz until 200; fail with the server's log if it exits, answers 503, or takes too long."""
    stop_at = time.perf_counter() + timeout_s
    with httpx.Client(base_url=base, timeout=5.0) as client:
        while time.perf_counter() < stop_at:
            if proc.poll() is not None:
                raise SystemExit(f"error: the server exited with code {proc.returncode} before it was ready:\n{log_tail(log_path)}")
            try:
                response = client.get("/readyz")
            except httpx.TransportError:
                time.sleep(0.25)
                continue
            if response.status_code == 200:
                return dict(response.json())
            raise SystemExit(f"error: /readyz answered {response.status_code}: {response.text[:500]}\n{log_tail(log_path)}")
    raise SystemExit(f"error: the server was not ready within {timeout_s:.0f} s (raise --ready-timeout):\n{log_tail(log_path)}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM of a live process (Linux), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- HTTP load


def http_call(client: httpx.Client, endpoint: str) -> Callable[[str], None]:
    def call(question: str) -> None:
        response = client.post(f"/v1/{endpoint}", json={"question": question})
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    return call


def bench_http(base: str, questions: list[str], n: int, deadline_s: float) -> list[Measurement]:
    limits = httpx.Limits(max_connections=max(CONCURRENCY), max_keepalive_connections=max(CONCURRENCY))
    results = []
    with httpx.Client(base_url=base, timeout=60.0, limits=limits, trust_env=False) as client:
        for endpoint in ENDPOINTS:
            call = http_call(client, endpoint)
            for q in questions[:WARM_UP_REQUESTS]:
                call(q)
            for concurrency in CONCURRENCY:
                m = run_level(Measurement("http", endpoint, concurrency), call, cycled(questions, n), deadline_s)
                results.append(m)
                print(f"  http {endpoint} c={concurrency}: {m.summary()['req_per_s']} req/s", flush=True)
        # the first level again: shows whether a figure depends on its place in the run (warm-up, thread pools)
        results.append(run_level(Measurement("http-again", ENDPOINTS[0], CONCURRENCY[0]), http_call(client, ENDPOINTS[0]), cycled(questions, n), deadline_s))
    return results


def with_server(settings: Settings, args: argparse.Namespace, questions: list[str]) -> tuple[list[Measurement], dict[str, Any]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.mkstemp(prefix="rag-bench-server-", suffix=".log")[1])
    started = time.perf_counter()
    proc = start_server(settings, port, log_path)
    try:
        ready = wait_ready(proc, base, log_path, args.ready_timeout)
        info = {"port": port, "ready_s": round(time.perf_counter() - started, 2), "readyz": ready}
        print(f"server pid {proc.pid} on {base} ready in {info['ready_s']} s", flush=True)
        results = bench_http(base, questions, args.n, args.timeout)
        info["server_peak_rss_mib"] = peak_rss_mib(proc.pid)
        return results, info
    finally:
        stop_server(proc)
        log_path.unlink(missing_ok=True)


# ---------------------------------------------------------------- report


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'mode':<20}{'endpoint':<9}{'conc':>5}{'ok':>6}{'err':>5}{'skip':>5}{'p50 ms':>10}{'p90 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'req/s':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['mode']:<20}{r['endpoint']:<9}{r['concurrency']:>5}{r['ok']:>6}{r['errors']:>5}{r['skipped']:>5}"
            f"{r['p50_ms']:>10.1f}{r['p90_ms']:>10.1f}{r['p95_ms']:>10.1f}{r['p99_ms']:>10.1f}{r['req_per_s']:>9.2f}"
        )
    for r in rows:
        if r.get("first_error"):
            print(f"first error ({r['mode']} {r['endpoint']} c={r['concurrency']}): {r['first_error']}")


def run(args: argparse.Namespace) -> tuple[dict[str, Any], list[Measurement]]:
    settings, manifest = index_settings(args.index_dir, args.corpus, args.threads)
    questions = load_questions(args.questions)
    counts = manifest.get("counts", {})
    print(f"index {args.index_dir} build {manifest.get('build_id')}: {counts.get('documents')} documents, {counts.get('chunks')} chunks; "
          f"{len(questions)} questions from {args.questions}, n={args.n} per measurement, "
          f"RAG_THREADS={settings.threads} (0: torch default, {os.cpu_count()} CPUs), "
          f"RAG_QUERY_ENCODER={settings.query_encoder}", flush=True)
    result: dict[str, Any] = {"index_dir": str(args.index_dir), "build_id": manifest.get("build_id"), "chunks": counts.get("chunks"),
                              "n": args.n, "threads": settings.threads, "cpus": os.cpu_count()}
    measurements: list[Measurement] = []
    if args.query_encoders:
        compared, info = bench_query_encoders(settings, questions, args.n, args.query_encoders)
        measurements += compared
        result["query_encoders"] = info
    elif not args.skip_in_process:
        in_process, load_s = bench_in_process(settings, questions, args.n, args.timeout)
        measurements += in_process
        result["in_process_load_s"] = round(load_s, 2)
    if not args.skip_http:
        http, info = with_server(settings, args, questions)
        measurements += http
        result["server"] = info
    return result, measurements


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup in `finally` blocks on kill
    try:
        result, measurements = run(args)
    except RagError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    rows = [m.summary() for m in measurements]
    print_table(rows)
    if "query_encoders" in result:
        for name, ratio in next(v for k, v in result["query_encoders"].items() if k.startswith("p50_speedup")).items():
            print(f"p50 speedup of {name} over {args.query_encoders[0]}: {ratio:.2f}x")
    if "server" in result:
        print(f"server: ready {result['server']['ready_s']} s after start, peak RSS {result['server']['server_peak_rss_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(figures(result, rows), indent=2))
    print("RESULT " + json.dumps({**result, "rows": rows}))
    return 0


def figures(result: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The `--json` file: per mode, endpoint and concurrency, throughput, latency percentiles and errors."""
    out: dict[str, Any] = {"build_id": result.get("build_id"), "chunks": result.get("chunks"), "server": result.get("server")}
    for row in rows:
        mode = {"http": "http", "in-process": "in_process"}.get(row["mode"])
        if mode is None:
            continue
        out.setdefault(mode, {}).setdefault(row["endpoint"], {})[str(row["concurrency"])] = {
            "rps": row["req_per_s"], "p50": row["p50_ms"], "p95": row["p95_ms"], "p99": row["p99_ms"], "errors": row["errors"]}
    return out


if __name__ == "__main__":
    sys.exit(main())
