"""The command line reads and prints as it did: every command's `--help`, and what `--json` (and the plain text next to
it) prints over the mini corpus, compared with the snapshots taken before the CLI became the `rag/cli/` package.

`help_snapshot.json` holds `rag --help`, `rag --version` and the help of every command and subcommand (the group walked
recursively, terminal 100 columns wide). `output_snapshot.json` holds the exit code, standard output and standard
error of commands run in-process over a build of the mini corpus made with the fake embedder (`Assistant` and the
passage embedder patched to use it): what varies from run to run (the temporary folder, build ids, times, key ids,
latencies, the day a build's corpus health is judged on) is replaced by a placeholder. A change to the CLI that is meant rewrites them:

    RAG_UPDATE_CLI_SNAPSHOT=1 .venv/bin/python -m pytest -q tests/cli/test_snapshot.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import click
import pytest
from click.testing import CliRunner

from tests.conftest import FAKE_ABSTENTION, FIXTURES, FakeEmbedder

HERE = Path(__file__).resolve().parent
HELP_SNAPSHOT = HERE / "help_snapshot.json"
OUTPUT_SNAPSHOT = HERE / "output_snapshot.json"
UPDATE = os.environ.get("RAG_UPDATE_CLI_SNAPSHOT") == "1"
WIDTH = 100


def commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under `command`, itself first, subcommands in name order."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from commands(command.commands[name], (*path, name))


def invoke(args: list[str], input: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    from rag.cli import cli

    result = CliRunner().invoke(cli, args, input=input, env=env, prog_name="rag", terminal_width=WIDTH)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}


def compare(snapshot: Path, actual: dict[str, Any]) -> None:
    if UPDATE:
        snapshot.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(snapshot.read_text(encoding="utf-8"))
    assert sorted(actual) == sorted(expected), "commands or cases added or lost"
    for name in expected:
        assert actual[name] == expected[name], f"{name!r} differs from {snapshot.name}"


def test_every_help_text_reads_as_before() -> None:
    from rag.cli import cli

    texts = {" ".join(("rag", *path)): invoke([*path, "--help"]) for path, _ in commands(cli)}
    version = invoke(["--version"])
    texts["rag --version"] = {**version, "stdout": re.sub(r"version \S+", "version <version>", version["stdout"])}
    assert len(texts) >= 24  # 23 commands and groups, and --version
    compare(HELP_SNAPSHOT, texts)


@pytest.fixture
def cli_env(tmp_path: Path, mini_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of the runs: the mini corpus, settings the fake embedder's builds match, every model faked."""
    import rag.assistant
    import rag.indexing.passage_encoder

    for key in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(key)
    env = {"RAG_CORPUS_DIR": str(mini_corpus), "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_STATE_DIR": str(tmp_path / "state"),
           "RAG_CHUNK_TOKENS": "60", "RAG_CHUNK_OVERLAP": "10", "RAG_ABSTAIN_THRESHOLD": "0.3", "RAG_ABSTAIN_MODEL": str(FAKE_ABSTENTION),
           "RAG_READER": "off"}  # as tests/conftest.py's settings: the reader is tested on its own
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class FakeAssistant(rag.assistant.Assistant):
        def __init__(self, settings: Any, embedder: Any = None, *args: Any, **kwargs: Any) -> None:
            super().__init__(settings, embedder or FakeEmbedder(), *args, **kwargs)

    monkeypatch.setattr(rag.assistant, "Assistant", FakeAssistant)
    monkeypatch.setattr(rag.indexing.passage_encoder, "make_passage_embedder", lambda settings: FakeEmbedder())
    return env


class Scrub:
    """Replaces what varies between runs with placeholders: the temporary folder, build ids, key ids and secrets,
    times and latencies."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = str(tmp_path)
        self.words: dict[str, str] = {}

    def add(self, word: str, placeholder: str) -> None:
        if word:
            self.words[word] = placeholder

    def __call__(self, text: str) -> str:
        text = text.replace(self.tmp, "<tmp>").replace(str(FIXTURES), "<fixtures>")
        for word in sorted(self.words, key=len, reverse=True):
            text = text.replace(word, self.words[word])
        text = re.sub(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", "<time>", text)
        text = re.sub(r'("(?:p50|p95|p99|mean|\w*seconds|\w*_ms)": )[-0-9.e]+', r"\1<n>", text)
        text = re.sub(r'("today": "|"as_of": "|corpus health on )\d{4}-\d{2}-\d{2}', r"\1<today>", text)  # the build's day
        text = re.sub(r"(\| latency_ms \| p\d+ \| )[0-9.]+", r"\1<n>", text)
        return re.sub(r"p50=\d+ms", "p50=<n>ms", text)

    def result(self, result: dict[str, Any]) -> dict[str, Any]:
        return {**result, "stdout": self(result["stdout"]), "stderr": self(result["stderr"])}


def test_json_and_text_output_read_as_before(cli_env: dict[str, str], tmp_path: Path) -> None:
    from rag.indexing import builds

    scrub = Scrub(tmp_path)
    out: dict[str, Any] = {}
    built = invoke(["index", "build", "--no-gate"])
    for n, build_id in enumerate(sorted(p.name for p in (tmp_path / "index" / "builds").iterdir())):
        scrub.add(build_id, f"<build{n}>")
    progress = ("chunking:", "embedding:", "sentences:", "writing:")  # progress bars with timings: which, not how fast
    out["index build"] = {**scrub.result(built), "stderr": [bar for bar in progress if bar in built["stderr"]]}
    assert builds.current_build_id(tmp_path / "index")
    out["index status"] = scrub.result(invoke(["index", "status"]))
    out["index status --json"] = scrub.result(invoke(["index", "status", "--json"]))
    out["index list"] = scrub.result(invoke(["index", "list"]))

    question = "Who approves claims over 500 pounds?"
    for args in (["search", question], ["search", question, "-k", "2", "--json"], ["search", "hotel", "--doc", "travel.txt", "--json"],
                 ["ask", question], ["ask", question, "--json"], ["ask", "How long is CCTV footage kept?", "--doc", "retention.md"],
                 ["ask", "Which vaccinations do pets need?"], ["ask", "Which vaccinations do pets need?", "--json"],
                 ["ask", question, "--meta", "owner=Finance Director", "--json"], ["ask", question, "--meta", "nonsense"],
                 ["search", "   "], ["ask", question, "--index-dir", str(tmp_path / "nowhere")]):
        out[scrub(" ".join(args))] = scrub.result(invoke(args))
    history = json.dumps([{"role": "user", "content": question}, {"role": "assistant", "content": "A director [1]."}])
    out["ask --history - --json"] = scrub.result(invoke(["ask", "and hotels abroad?", "--history", "-", "--json"], input=history))
    typed = f"{question}\n/sources\nwho approves it?\n/new\n/frobnicate\n/quit\n"
    out["chat"] = scrub.result(invoke(["chat"], input=typed))
    out["chat --json"] = scrub.result(invoke(["chat", "--json"], input=typed))

    gold = FIXTURES / "mini-gold.jsonl"
    metrics = tmp_path / "metrics.json"
    evaluated = invoke(["eval", "--gold", str(gold), "--json", str(metrics)])
    out["eval --json FILE"] = {"exit_code": evaluated["exit_code"], "stdout": scrub(evaluated["stdout"]).replace(str(FIXTURES), "<fixtures>"),
                               "file": scrub(metrics.read_text(encoding="utf-8")).replace(str(FIXTURES), "<fixtures>")}

    out["keys list (none)"] = scrub.result(invoke(["keys", "list"]))
    keys = {}
    # in name order: keys list orders by the second each was made, then by name
    for name, args in (("keys add --admin", ["boss", "--admin"]), ("keys add", ["staff-reader", "--groups", "staff,*"])):
        added = invoke(["keys", "add", *args])
        keys[name] = added["stdout"].rstrip("\n").split("\n")[-1]
        scrub.add(keys[name], f"<key:{args[0]}>")
        scrub.add(keys[name].split("_")[1], f"<key-id:{args[0]}>")
        out[name] = scrub.result(added)
    key = keys["keys add"]
    out["keys list"] = scrub.result(invoke(["keys", "list"]))
    out["keys list --json"] = scrub.result(invoke(["keys", "list", "--json"]))
    keyed = {**cli_env, "RAG_API_KEY": key}
    out["ask with a key --json"] = scrub.result(invoke(["ask", question, "--json"], env=keyed))
    out["search with a key --json"] = scrub.result(invoke(["search", "hotel", "--json"], env=keyed))
    out["audit tail"] = scrub.result(invoke(["audit", "tail"]))
    out["audit tail --json"] = scrub.result(invoke(["audit", "tail", "--json", "-n", "1"]))
    out["audit search --doc travel.txt --json"] = scrub.result(invoke(["audit", "search", "--doc", "travel.txt", "--json"]))
    out["audit search (nothing)"] = scrub.result(invoke(["audit", "search"]))
    out["keys revoke"] = scrub.result(invoke(["keys", "revoke", "boss"]))
    out["keys revoke (unknown)"] = scrub.result(invoke(["keys", "revoke", "nobody"]))

    feedback = tmp_path / "feedback.jsonl"
    out["feedback export"] = scrub.result(invoke(["feedback", "export", "--out", str(feedback)]))
    out["settings"] = invoke(["settings"])
    out["settings"]["stdout"] = scrub(out["settings"]["stdout"])
    compare(OUTPUT_SNAPSHOT, out)
