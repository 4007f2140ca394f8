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


LLM = {"RAG_ANSWERER": "openai", "RAG_LLM_BASE_URL": "http://127.0.0.1:11434/v1", "RAG_LLM_MODEL": "llama3.2"}


def test_the_api_key_is_read_from_the_variable_named_and_never_shown():
    settings = Settings.from_env({**LLM, "RAG_LLM_API_KEY_ENV": "MY_KEY", "MY_KEY": "sk-very-secret"})
    assert settings.llm_api_key == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings) and all("sk-very-secret" not in str(row) for row in Settings.describe())
    assert "RAG_LLM_API_KEY" not in {key for key, _, _ in Settings.describe()}
    assert settings.replace(top_k=3).llm_api_key == "sk-very-secret"  # survives a replace
    assert Settings.from_env({**LLM, "RAG_LLM_API_KEY": "sk-direct"}).llm_api_key == ""  # never read from a RAG_ variable


def test_a_key_pasted_into_the_name_setting_is_refused_without_being_echoed():
    with pytest.raises(ConfigError, match="must be the NAME of a variable") as caught:
        Settings.from_env({**LLM, "RAG_LLM_API_KEY_ENV": "sk-abc/123+xyz"})
    assert "sk-abc" not in caught.value.message


def test_a_named_key_variable_that_is_not_set_says_what_to_export():
    with pytest.raises(ConfigError, match="RAG_LLM_API_KEY_ENV names MY_KEY, which is not set"):
        Settings.from_env({**LLM, "RAG_LLM_API_KEY_ENV": "MY_KEY"})
    assert Settings.from_env({"RAG_LLM_API_KEY_ENV": "MY_KEY"}).llm_api_key == ""  # extractive: no key needed


@pytest.mark.parametrize("env, fragment", [
    ({"RAG_ANSWERER": "openai"}, "RAG_ANSWERER=openai needs RAG_LLM_BASE_URL"),
    ({**LLM, "RAG_LLM_MODEL": ""}, "needs RAG_LLM_MODEL"),
    ({**LLM, "RAG_LLM_BASE_URL": "localhost:11434"}, "must start with http://"),
    ({**LLM, "RAG_LLM_MAX_TOKENS": "1500", "RAG_LLM_CONTEXT_TOKENS": "2048"}, "leaves too little of RAG_LLM_CONTEXT_TOKENS"),
    ({"RAG_ANSWERER": "gpt"}, "RAG_ANSWERER='gpt' must be one of extractive, openai"),
    ({"RAG_LLM_FALLBACK": "retry"}, "must be one of extractive, error"),
    ({"RAG_VERIFY_MODE": "hide"}, "must be one of remove, mark"),
    ({"RAG_LLM_TIMEOUT": "0"}, "RAG_LLM_TIMEOUT.*out of range"),
])
def test_generative_settings_are_checked_with_the_next_step(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Settings.from_env(env)
