"""Checking a conversation's history before anything is searched."""

import pytest

from rag.chat.history import checked_history, latest_within
from rag.config import Settings
from rag.errors import InvalidRequestError
from rag.models import Message


def test_history_becomes_messages_oldest_first():
    history = checked_history([{"role": "user", "content": "How long is CCTV kept?"},
                               {"role": "assistant", "content": "30 days [1]"}], Settings())
    assert history == (Message("user", "How long is CCTV kept?"), Message("assistant", "30 days [1]"))
    assert checked_history(None, Settings()) == () and checked_history([], Settings()) == ()


@pytest.mark.parametrize("history, fragment", [
    ("hello", "must be a list"),
    ({"role": "user", "content": "x"}, "must be a list"),
    ([{"role": "system", "content": "be nice"}], "history[0].role is 'system'"),
    ([{"role": "user"}], "history[0].content must be a string"),
    ([{"role": "user", "content": 5}], "content must be a string"),
    ([{"role": "user", "content": "   "}], "empty user turn"),
    (["just text"], "history[0] must be an object"),
])
def test_malformed_history_says_what_to_send(history, fragment):
    with pytest.raises(InvalidRequestError) as caught:
        checked_history(history, Settings())
    assert fragment in caught.value.message


def test_too_long_a_history_is_refused_with_the_limit():
    settings = Settings.from_env({}, max_history_messages=2, max_history_chars=100)
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    with pytest.raises(InvalidRequestError) as caught:
        checked_history(turns, settings)
    assert "RAG_MAX_HISTORY_MESSAGES" in caught.value.message and "start a new conversation" in caught.value.message
    with pytest.raises(InvalidRequestError) as caught:
        checked_history([{"role": "user", "content": "x" * 101}], settings)
    assert "RAG_MAX_HISTORY_CHARS" in caught.value.message


def test_a_long_stored_conversation_keeps_its_latest_messages_within_the_limits():
    settings = Settings.from_env({}, max_history_messages=3, max_history_chars=100)
    messages = [Message("user", str(i) * 10) for i in range(6)]
    assert latest_within(messages, settings) == tuple(messages[-3:])
    assert latest_within([Message("user", "x" * 60), Message("user", "y" * 60)], settings) == (Message("user", "y" * 60),)
