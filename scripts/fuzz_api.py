"""Fuzz the HTTP API with schemathesis, with and without API keys, over a real uvicorn server.

Serves the access-control test corpus (tests/server/access_corpus.py: documents of three groups, the fake embedder,
so no model is needed) from a temporary folder, then runs `schemathesis run --checks all` with every phase (examples,
coverage, fuzzing, stateful) twice: with no key configured (open, loopback) and with keys configured, sending a
staff key. Prints each run's summary line.

    PYTHONPATH=. .venv/bin/python scripts/fuzz_api.py [--max-examples N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.indexing import builds  # noqa: E402
from tests.conftest import FIXTURES, FakeEmbedder  # noqa: E402
from tests.server.access_corpus import build_with_keys, serving, write_corpus  # noqa: E402


def schemathesis(base: str, max_examples: int, out: Path, header: str | None) -> int:
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/openapi.json", "--checks", "all",
               "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(max_examples), "--seed", "17",
               "--request-timeout", "30", "--report", "junit", "--report-junit-path", str(out), "--generation-database", "none"]
    if header:
        command += ["-H", header]
    print("$", " ".join(c if "Bearer" not in c else "Authorization: Bearer <staff key>" for c in command), flush=True)
    return subprocess.run(command).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("fuzz-report"))
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    codes = []
    for mode in ("open", "keys"):
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus"
            shutil.copytree(FIXTURES / "mini", corpus)
            settings = Settings.from_env({}, corpus_dir=corpus, index_dir=Path(tmp) / "index", state_dir=Path(tmp) / "state",
                                         chunk_tokens=60, chunk_overlap=10, rate_limit=0.0, reload_interval=0.0)
            embedder = FakeEmbedder()
            if mode == "keys":
                header = f"Authorization: Bearer {build_with_keys(settings, embedder).staff}"
            else:
                write_corpus(settings)
                builds.promote(settings.index_dir, builds.build(settings, embedder).build_id)
                header = None
            with serving(settings, Assistant(settings, embedder=embedder)) as base:
                print(f"== {mode}: {base}", flush=True)
                codes.append(schemathesis(base, args.max_examples, args.out / f"{mode}.xml", header))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
