"""Fixtures of the generative path: the scripted server, and settings that point the assistant at it."""

import pytest

from tests.generate.fake_llm import FakeLLM


@pytest.fixture
def llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def llm_settings(settings, llm):
    return settings.replace(answerer="openai", llm_base_url=llm.url, llm_model="fake-model", llm_timeout=10.0)
