"""Shared fixtures: a tiny hand-written corpus and a deterministic fake embedder.

The fake embedder hashes stemmed content words into a small vector space, so
texts that share words are similar; unit tests use it to stay fast. End-to-end
tests (marked `model`) use the real packaged model.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pytest

from rag.config import Settings
from rag.ingest.text import content_words

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FAKE_ABSTENTION = FIXTURES / "fake_embedder_abstention.json"
SHARED_DATA = ROOT.parent / "shared" / "data"


class FakeEmbedder:
    """Bag-of-hashed-words vectors: deterministic, no model, same interface as the real one."""

    name = "all-MiniLM-L6-v2"  # matches the default settings so manifests check out

    def __init__(self, dimension: int = 256, window: int = 254) -> None:
        self._dimension = dimension
        self._window = window
        self.calls = 0
        self.texts_encoded = 0

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def window(self) -> int:
        return self._window

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in content_words(text):
                bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dimension
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        if progress:
            progress(len(texts))
        return out


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--leak-examples", type=int, default=150,
                     help="Requests the cross-group leak property test generates (tests/server/test_access_leaks.py).")


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def mini_corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "mini", target)
    return target


@pytest.fixture
def settings(tmp_path: Path, mini_corpus: Path) -> Settings:
    return Settings.from_env({}, corpus_dir=mini_corpus, index_dir=tmp_path / "index", state_dir=tmp_path / "state", chunk_tokens=60,
                             chunk_overlap=10, abstain_threshold=0.3, reader="off", abstain_model=str(FAKE_ABSTENTION))
    # the reader is tested on its own; the refusal model is one for the fake embedder's scores (see its note)


@pytest.fixture
def built(settings: Settings, fake_embedder: FakeEmbedder):  # type: ignore[no-untyped-def]
    """A promoted build of the mini corpus made with the fake embedder."""
    from rag.indexing import builds

    result = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, result.build_id)
    return result


@pytest.fixture
def assistant_over(settings: Settings, mini_corpus: Path, fake_embedder: FakeEmbedder):  # type: ignore[no-untyped-def]
    """Build the mini corpus plus one hand-written document and return an assistant over it that answers whatever
    the refusal model thinks and quotes one sentence (with what that sentence needs): `assistant_over("x.md", TEXT)`."""
    from rag.assistant import Assistant
    from rag.indexing import builds

    def make(name: str, text: str) -> Assistant:
        (mini_corpus / name).write_text(text, encoding="utf-8")
        builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
        return Assistant(settings.replace(abstain_threshold=0.001, answer_sentences=1), embedder=fake_embedder)

    return make


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server for the session (tests/postgres.py); skips, saying why, where no server can be had."""
    from tests.postgres import start_server

    try:
        server = start_server()
    except LookupError as exc:
        pytest.skip(str(exc))
    yield server
    from rag.state.database import close_pools

    close_pools()
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The state backends the store tests run against: "" (SQLite files in the state folder), then a fresh database
    of the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield ""
        return
    from rag.state.database import close_pools

    yield request.getfixturevalue("postgres_server").new_database()
    close_pools()


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh database of the session's PostgreSQL server (for a test that runs on it alone or picks its backend)."""
    from rag.state.database import close_pools

    yield postgres_server.new_database()
    close_pools()


VERSIONS_TODAY = "2026-06-01"  # the day the versions corpus's tests take as today (tests/fixtures/versions/README.md)


@pytest.fixture(scope="session")
def versions_build(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The versions corpus built with the real model as `rag index build` builds it (its health report kept), promoted;
    the settings take VERSIONS_TODAY as today. One build per session, shared by the library, CLI and HTTP tests."""
    from rag.indexing.passage_encoder import make_passage_embedder
    from rag.pipeline import rebuild

    root = tmp_path_factory.mktemp("versions")
    corpus = root / "corpus"
    shutil.copytree(FIXTURES / "versions" / "corpus", corpus)
    settings = Settings.from_env({}, corpus_dir=corpus, index_dir=root / "index", state_dir=root / "state", today=VERSIONS_TODAY)
    outcome = rebuild(settings, make_passage_embedder(settings), None, settings.gate_file, no_gate=True)
    assert outcome.promoted and outcome.manifest["health"]["conflicts"] >= 1
    return settings
