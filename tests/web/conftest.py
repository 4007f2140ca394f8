"""Browser end-to-end fixtures: Debian's chromium driven by Playwright, over `rag serve` with the real model.

One index per session: `docs_corpus/` plus the hand-written documents of `tests/fixtures/web/` (markup that must never
run, characters outside the Basic Multilingual Plane before a cited sentence), built as `rag index build` builds.
The server is a real `rag serve` subprocess (uvicorn), so the page is what `make run` serves. Every page records its
console errors, uncaught exceptions and failed requests; a test fails on any it did not declare (`page.problems.allow`).
Where no browser (or no Playwright) can be found, every test here skips and says how to install one.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rag.config import Settings
from tests.conftest import FIXTURES, ROOT
from tests.e2e_helpers import free_port, stop, wait_until_up
from tests.web.chat_page import ARTIFACTS

INSTRUMENT = Path(__file__).with_name("instrument.js")
BROWSER_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SUMMARY: dict[str, Any] = {"pages": 0, "console_errors": 0, "failed_requests": 0, "latencies_ms": []}


def find_chromium() -> str | None:
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: run `make setup` (it is in requirements.lock)")
    executable = find_chromium()
    if executable is None:
        pytest.skip("no browser for the web page tests: install Debian's chromium (`apt-get install -y chromium`; "
                    ".ci/run does this before `make test`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """docs_corpus/ and the web fixtures, built and promoted with the real model (the ONNX passage encoder)."""
    from rag.indexing import builds
    from rag.indexing.passage_encoder import make_passage_embedder

    root = tmp_path_factory.mktemp("web")
    corpus = root / "corpus"
    shutil.copytree(ROOT / "docs_corpus", corpus)
    for path in (FIXTURES / "web").iterdir():
        shutil.copy(path, corpus / path.name)
    settings = Settings.from_env({}, corpus_dir=corpus, index_dir=root / "index", state_dir=root / "state")
    result = builds.build(settings, make_passage_embedder(settings))
    builds.promote(settings.index_dir, result.build_id)
    return settings


@pytest.fixture(scope="session")
def web_server(chromium: Any, web_settings: Settings) -> Iterator[str]:
    """`rag serve` over the web index, in its own process; its address."""
    with served(web_settings, web_settings.state_dir, {}) as base:
        yield base


@contextmanager
def served(settings: Settings, state_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """A `rag serve` process over `settings`' index with its own state folder and extra RAG_* `env`; its address."""
    port = free_port()
    log_path = state_dir.parent / f"server-{port}.log"
    env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir),
           "RAG_STATE_DIR": str(state_dir), "RAG_THREADS": "1", **env}
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall the access log
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/readyz", proc, log_path, 180, "rag serve")
            yield base
        finally:
            stop(proc)


@dataclass
class Problems:
    """Console errors, uncaught exceptions and failed requests of one page; `allow` declares the expected ones."""

    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, *fragments: str) -> None:
        """Expect problems holding any of `fragments` (the console and the network word a failure differently)."""
        self.allowed.extend(fragments)

    def unexpected(self) -> list[str]:
        return [p for p in self.console + self.failed if not any(a in p for a in self.allowed)]


def watch(page: Any, problems: Problems) -> None:
    def console(message: Any) -> None:
        if message.type == "error":
            problems.console.append(f"console: {message.text} at {message.location.get('url', '')}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.console.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda r: problems.failed.append(f"failed: {r.method} {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.failed.append(f"status {r.status}: {r.request.method} {r.url}"))


@pytest.fixture
def open_page(chromium: Any, web_server: str) -> Iterator[Any]:
    """`open_page(width=1280, scheme="light", base=None)`: a fresh browser context (a new visitor: its own owner, no
    conversations) at the chat page (of `base`, else of `web_server`); `page.problems` must hold nothing unexpected
    when the test ends."""
    contexts: list[tuple[Any, Problems]] = []

    def opener(width: int = 1280, scheme: str = "light", height: int | None = None, base: str | None = None) -> Any:
        context = chromium.new_context(viewport={"width": width, "height": height or (860 if width > 600 else 844)},
                                       color_scheme=scheme)
        context.add_init_script(path=str(INSTRUMENT))
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.problems = Problems()
        watch(page, page.problems)
        contexts.append((context, page.problems))
        page.goto((base or web_server) + "/")
        page.locator("#question").wait_for()
        SUMMARY["pages"] += 1
        return page

    yield opener
    problems: list[str] = []
    for context, seen in contexts:
        context.close()
        SUMMARY["console_errors"] += len(seen.console)
        SUMMARY["failed_requests"] += len(seen.failed)
        problems += seen.unexpected()
    assert not problems, "the page logged errors or had failed requests:\n" + "\n".join(problems)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures the browser tests measure (reported, never asserted): first-text latency and the error counts."""
    if not SUMMARY["pages"]:
        return
    line = f"web page: {SUMMARY['pages']} pages, {SUMMARY['console_errors']} console errors, " \
           f"{SUMMARY['failed_requests']} failed requests (including those a test provoked on purpose)"
    if SUMMARY.get("page_bytes"):
        line += f"; the page weighs {SUMMARY['page_bytes'] / 1000:.1f} kB in {SUMMARY['page_files']} files"
    latencies = SUMMARY["latencies_ms"]
    if latencies:
        line += f"; Enter to first answer text p50 {percentile(latencies, 50):.0f} ms, p95 {percentile(latencies, 95):.0f} ms " \
                f"over {len(latencies)} questions"
    terminalreporter.write_line(line)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "summary.json").write_text(json.dumps(SUMMARY, indent=2) + "\n", encoding="utf-8")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1] if q < 100 else ordered[-1]
