"""The chat client against a scripted OpenAI-compatible server: pieces, failures with a reason, deadlines, hang-ups."""

import time

import pytest

from rag.errors import LLMError, LLMTimeoutError, LLMUnavailableError
from rag.generate.client import ChatClient
from tests.e2e_helpers import free_port
from tests.generate.fake_llm import Script

ASK = [{"role": "user", "content": "hello"}]


def text_of(client: ChatClient, timeout: float = 10.0) -> str:
    return client.complete(ASK, max_tokens=32, temperature=0.0, timeout=timeout)[0]


def test_a_streamed_reply_comes_piece_by_piece_with_the_request_openai_servers_expect(llm):
    llm.reply(Script(["Payroll ", "records ", "[1]."]))
    client = ChatClient(llm.url, "fake-model", api_key="sk-secret")
    pieces = [d.text for d in client.stream(ASK, max_tokens=32, temperature=0.0, timeout=10) if d.text]
    assert pieces == ["Payroll ", "records ", "[1]."]
    body, headers = llm.requests[0], llm.headers[0]
    assert body == {"model": "fake-model", "messages": ASK, "max_tokens": 32, "temperature": 0.0, "stream": True}
    assert headers["authorization"] == "Bearer sk-secret"


def test_no_key_sends_no_authorization_header(llm):
    llm.reply(Script(["ok"]))
    assert text_of(ChatClient(llm.url, "m")) == "ok" and "authorization" not in llm.headers[0]


def test_a_server_that_ignores_stream_and_sends_one_body_is_read(llm):
    llm.reply(Script(["All ", "at once."], stream=False, finish="length"))
    assert ChatClient(llm.url, "m").complete(ASK, max_tokens=8, temperature=0, timeout=10) == ("All at once.", "length")


@pytest.mark.parametrize("script, reason, fragment", [
    (Script(status=401, body='{"error": {"message": "invalid api key"}}'), "http_error", "HTTP 401: invalid api key; check the key"),
    (Script(status=404, body='{"error": {"message": "model \'x\' not found"}}'), "http_error", "should end with /v1"),
    (Script(status=200, body="<html>hello</html>"), "bad_response", "not JSON"),
    (Script(status=200, body='{"result": "no choices"}'), "bad_response", "choices[0].message.content"),
])
def test_failures_are_llm_errors_with_a_reason_and_a_next_step(llm, script, reason, fragment):
    llm.reply(script)
    with pytest.raises(LLMError) as caught:
        text_of(ChatClient(llm.url, "m", api_key="sk-secret"))
    assert caught.value.reason == reason and fragment in caught.value.message and "sk-secret" not in caught.value.message
    assert caught.value.to_dict()["status"] == 502


def test_garbage_or_an_error_in_the_middle_of_a_stream_is_an_llm_error(llm):
    llm.reply(Script(["Hello"], then="data: {not json\n\n"),
              Script(["Hello"], then='data: {"error": {"message": "out of memory"}}\n\n'))
    client = ChatClient(llm.url, "m")
    with pytest.raises(LLMError, match="not JSON") as caught:
        text_of(client)
    assert caught.value.reason == "bad_response"
    with pytest.raises(LLMError, match="failed while writing: out of memory"):
        text_of(client)


def test_a_server_that_is_down_is_unavailable_and_names_the_setting():
    client = ChatClient(f"http://127.0.0.1:{free_port()}/v1", "m")
    with pytest.raises(LLMUnavailableError, match="RAG_LLM_BASE_URL") as caught:
        text_of(client)
    assert caught.value.reason == "unreachable" and caught.value.status == 503


def test_a_server_that_says_nothing_times_out_at_the_deadline(llm):
    llm.reply(Script(["late"], wait=30))
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError, match="RAG_LLM_TIMEOUT") as caught:
        text_of(ChatClient(llm.url, "m"), timeout=1.0)
    assert time.monotonic() - started < 5  # the deadline holds, whatever the server does
    assert caught.value.reason == "timeout" and caught.value.status == 504


def test_a_trickling_server_cannot_stretch_the_deadline(llm):
    llm.reply(Script(["word "] * 100, delay=0.3))  # each piece well within any read timeout
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError):
        text_of(ChatClient(llm.url, "m"), timeout=1.5)
    assert time.monotonic() - started < 5


def test_waiting_yields_empty_pieces_so_a_caller_can_leave(llm):
    llm.reply(Script(["done"], wait=1.0))
    deltas = list(ChatClient(llm.url, "m").stream(ASK, max_tokens=8, temperature=0, timeout=10))
    assert deltas[-1].text == "done" and deltas[-1].finish == "stop" and any(d.text == "" for d in deltas[:-1])


def test_closing_the_stream_hangs_up_so_the_server_stops_writing(llm):
    llm.reply(Script(["word "] * 200, delay=0.02))
    stream = ChatClient(llm.url, "m").stream(ASK, max_tokens=300, temperature=0, timeout=30)
    assert next(d for d in stream if d.text).text == "word "
    stream.close()
    assert llm.aborted.wait(10), "the server went on writing to a client that left"
    assert llm.sent < 200
