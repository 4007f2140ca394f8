"""The README's counts of the project's gold sets read as the files do: a newcomer checks the first build's output
against them."""

from __future__ import annotations

import re

from rag.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def rows(path: str) -> int:
    return sum(1 for line in (ROOT / path).read_text(encoding="utf-8").splitlines() if line.strip())


def test_the_first_build_evaluates_as_many_gold_questions_as_the_gating_sets_hold():
    golds = [p.strip() for p in Settings().gold_files.split(",") if p.strip()]
    said = re.search(r"evaluates ([\d,]+) gold questions \((\w+) gold sets\)", README)
    assert said, "the Quick start no longer says how many gold questions the first build evaluates"
    assert int(said.group(1).replace(",", "")) == sum(rows(g) for g in golds)
    assert said.group(2) == {1: "one", 2: "two", 3: "three", 4: "four"}[len(golds)]


def test_each_gold_set_is_described_with_its_size():
    for path, pattern in (("eval/gold/docs_corpus.jsonl", r"`eval/gold/docs_corpus\.jsonl` has (\d+) questions"),
                          ("eval/gold/docs_corpus_natural.jsonl", r"`eval/gold/docs_corpus_natural\.jsonl` has (\d+) questions"),
                          ("eval/gold/docs_corpus_dialogues.jsonl", r"`eval/gold/docs_corpus_dialogues\.jsonl` has \d+ conversations \((\d+) turns")):
        said = re.search(pattern, README)
        assert said and int(said.group(1)) == rows(path), path
