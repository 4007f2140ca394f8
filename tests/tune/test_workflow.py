"""`rag tune` refuses what it cannot learn from, before training anything."""

from __future__ import annotations

import pytest

from rag.errors import InvalidRequestError
from rag.tune.workflow import tune
from tests.conftest import FIXTURES


def test_a_gold_set_too_small_to_learn_from_is_refused_with_the_next_step(built, settings, fake_embedder):
    with pytest.raises(InvalidRequestError, match=r"leaves \d+ answerable questions .* tuning needs at least 40: write more"):
        tune(settings, FIXTURES / "mini-gold.jsonl", [], embedder=fake_embedder)
    assert not (settings.index_dir / "adapters").exists()  # nothing written


def test_tuning_needs_a_live_build_of_the_corpus(settings, fake_embedder):
    with pytest.raises(InvalidRequestError, match="run `rag index build --corpus"):
        tune(settings, FIXTURES / "mini-gold.jsonl", [], embedder=fake_embedder)
