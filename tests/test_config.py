from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import ConfigError


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.corpus_dir == Path("docs_corpus")
    assert settings.index_dir == Path("index")
    assert settings.top_k == 5


def test_env_vars_are_read_and_typed():
    settings = Settings.from_env({"RAG_TOP_K": "8", "RAG_ABSTAIN_THRESHOLD": "0.5", "RAG_INDEX_DIR": "/tmp/x"})
    assert settings.top_k == 8
    assert settings.abstain_threshold == 0.5
    assert settings.index_dir == Path("/tmp/x")


def test_bad_value_names_the_key():
    with pytest.raises(ConfigError, match="RAG_TOP_K"):
        Settings.from_env({"RAG_TOP_K": "many"})


def test_out_of_range_value_names_the_key():
    with pytest.raises(ConfigError, match="RAG_CHUNK_TOKENS.*out of range"):
        Settings.from_env({"RAG_CHUNK_TOKENS": "3"})


def test_overrides_win_over_env_and_none_is_ignored():
    settings = Settings.from_env({"RAG_PORT": "9000"}, port=9100, host=None)
    assert settings.port == 9100
    assert settings.host == "127.0.0.1"


def test_every_setting_has_help():
    rows = Settings.describe()
    assert {key for key, _, _ in rows} >= {"RAG_CORPUS_DIR", "RAG_INDEX_DIR", "RAG_MODEL", "RAG_CHUNK_TOKENS"}
    assert all(help_text.strip() for _, _, help_text in rows)


def test_top_k_above_the_request_limit_is_refused():
    with pytest.raises(ConfigError, match="RAG_TOP_K=80 is above RAG_MAX_TOP_K=50"):
        Settings.from_env({"RAG_TOP_K": "80"})


def test_unknown_retrieval_method_is_refused():
    with pytest.raises(ConfigError, match="RAG_RETRIEVAL='fuzzy' must be one of hybrid, dense, lexical"):
        Settings.from_env({"RAG_RETRIEVAL": "fuzzy"})
