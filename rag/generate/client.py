"""A client for OpenAI-compatible chat servers that streams and never outlives its deadline.

Owns `ChatClient.stream`: one `POST {RAG_LLM_BASE_URL}/chat/completions` with `"stream": true`, the reply's text
yielded piece by piece as it arrives (`data:` lines of server-sent events; a server that answers with one JSON body
instead is read too), and every failure as an `LLMError` whose `reason` says what went wrong (`unreachable`,
`http_error`, `bad_response`, `timeout`). The HTTP exchange runs in a worker thread that hands pieces over a queue, so
the caller waits no longer than its deadline whatever the server does (accepts and goes silent, trickles, never
ends); while it waits it gets empty pieces every quarter second, so the caller can stop early. Closing the iterator
(a client that left, a deadline) makes the worker drop the connection, which is how llama.cpp, vLLM and Ollama learn to
stop generating. The API key travels in the Authorization header only: it is never logged or put in a message.
Leaves what to ask to `rag.generate.prompt` and what to do with the reply to `rag.generate.backend`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import httpx

from rag.config import Settings
from rag.errors import LLMError, LLMTimeoutError, LLMUnavailableError

WAIT_TICK = 0.25  # seconds between empty pieces while the server says nothing
CONNECT_TIMEOUT = 10.0
_END = object()


@dataclass(frozen=True)
class Delta:
    """The next piece of the reply ("" while none came yet), and the server's finish reason on its last piece."""

    text: str = ""
    finish: str | None = None


class ChatClient:
    """One OpenAI-compatible server and model; thread-safe (one connection pool shared by every request)."""

    def __init__(self, base_url: str, model: str, api_key: str = "", transport: httpx.BaseTransport | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.where = str(httpx.URL(self.url).copy_with(username=None, password=None))  # no credentials in messages
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, transport=transport, follow_redirects=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ChatClient":
        return cls(settings.llm_base_url, settings.llm_model, settings.llm_api_key)

    def stream(self, messages: Sequence[Mapping[str, str]], *, max_tokens: int, temperature: float,
               timeout: float) -> Iterator[Delta]:
        """The reply to `messages`, piece by piece; `LLMTimeoutError` once `timeout` seconds have passed since the call."""
        deadline = time.monotonic() + timeout
        body = {"model": self.model, "messages": [dict(m) for m in messages], "max_tokens": max_tokens,
                "temperature": temperature, "stream": True}
        inbox: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        threading.Thread(target=self._pump, args=(body, timeout, inbox, stop), daemon=True, name="llm-reply").start()
        try:
            yield from self._drain(inbox, deadline, timeout)
        finally:
            stop.set()  # the worker drops the connection at its next piece: the server stops generating

    def complete(self, messages: Sequence[Mapping[str, str]], *, max_tokens: int, temperature: float,
                 timeout: float) -> tuple[str, str | None]:
        """The whole reply and its finish reason."""
        parts, finish = [], None
        for delta in self.stream(messages, max_tokens=max_tokens, temperature=temperature, timeout=timeout):
            parts.append(delta.text)
            finish = delta.finish or finish
        return "".join(parts), finish

    def close(self) -> None:
        self._http.close()

    def _drain(self, inbox: queue.Queue[Any], deadline: float, timeout: float) -> Iterator[Delta]:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LLMTimeoutError(f"the language model at {self.where} did not finish within {timeout:g} s "
                                      "(RAG_LLM_TIMEOUT): check the server's load, raise RAG_LLM_TIMEOUT or lower "
                                      "RAG_LLM_MAX_TOKENS")
            try:
                item = inbox.get(timeout=min(left, WAIT_TICK))
            except queue.Empty:
                yield Delta()
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _pump(self, body: dict[str, Any], timeout: float, inbox: queue.Queue[Any], stop: threading.Event) -> None:
        """The HTTP exchange, in a worker thread: pieces, then the end (or the error) into `inbox`."""
        try:
            limits = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
            with self._http.stream("POST", self.url, json=body, timeout=limits) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._status_error(response)
                for delta in reply_deltas(response, stop, self.where):
                    inbox.put(delta)
            inbox.put(_END)
        except LLMError as exc:
            inbox.put(exc)
        except httpx.TimeoutException:
            inbox.put(LLMTimeoutError(f"the language model at {self.where} went silent for {timeout:g} s (RAG_LLM_TIMEOUT)"))
        except httpx.ConnectError as exc:
            inbox.put(LLMUnavailableError(f"cannot reach the language model at {self.where} ({type(exc).__name__}): start "
                                          "it, or fix RAG_LLM_BASE_URL"))
        except httpx.TransportError as exc:
            inbox.put(LLMError(f"the language model at {self.where} broke off its reply ({type(exc).__name__}): check "
                               "the server's log", "bad_response"))
        except Exception as exc:  # noqa: BLE001 - whatever broke, the caller gets one error with a next step
            inbox.put(LLMError(f"the exchange with the language model at {self.where} failed ({type(exc).__name__}): "
                               "check the server's log", "bad_response"))

    def _status_error(self, response: httpx.Response) -> LLMError:
        said = _server_message(response)
        hint = {401: "check the key in the variable RAG_LLM_API_KEY_ENV names", 403: "check the key's permissions",
                404: "RAG_LLM_BASE_URL should end with /v1, and RAG_LLM_MODEL name a model the server has",
                429: "the server is rate limiting: retry later or lower the load"}.get(response.status_code, "check the server's log")
        return LLMError(f"the language model at {self.where} answered HTTP {response.status_code}"
                        f"{': ' + said if said else ''}; {hint}", "http_error")


def reply_deltas(response: httpx.Response, stop: threading.Event, where: str) -> Iterator[Delta]:
    """The text pieces of a streamed reply (or of a plain JSON one), until `[DONE]` or `stop`."""
    if "text/event-stream" not in response.headers.get("content-type", ""):
        response.read()
        yield _whole_reply(response, where)
        return
    for line in response.iter_lines():
        if stop.is_set():
            return
        if not line.startswith("data:"):
            continue  # comments, event names, blank lines
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        delta = _chunk_delta(_json(payload, where), where)
        if delta is not None:
            yield delta


def _chunk_delta(chunk: Any, where: str) -> Delta | None:
    if not isinstance(chunk, dict):
        raise LLMError(f"the language model at {where} sent a chunk that is not a JSON object", "bad_response")
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise LLMError(f"the language model at {where} failed while writing: {str(message)[:200]}", "http_error")
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise LLMError(f"the language model at {where} sent a chunk without choices: is it OpenAI-compatible?", "bad_response")
    if not choices:
        return None  # a usage-only chunk
    choice = choices[0] if isinstance(choices[0], dict) else {}
    content = (choice.get("delta") or {}).get("content") or ""
    if not isinstance(content, str):
        raise LLMError(f"the language model at {where} sent content that is not text", "bad_response")
    finish = choice.get("finish_reason")
    return Delta(content, finish) if content or finish else None


def _whole_reply(response: httpx.Response, where: str) -> Delta:
    body = _json(response.text, where)
    try:
        choice = body["choices"][0]
        content = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise LLMError(f"the language model at {where} answered without choices[0].message.content: is it an "
                       "OpenAI-compatible chat server?", "bad_response") from None
    if not isinstance(content, str):
        raise LLMError(f"the language model at {where} answered content that is not text", "bad_response")
    return Delta(content, choice.get("finish_reason") or "stop")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise LLMError(f"the language model at {where} sent something that is not JSON ({text[:60]!r}): is "
                       "RAG_LLM_BASE_URL an OpenAI-compatible server?", "bad_response") from None


def _server_message(response: httpx.Response) -> str:
    """The server's own error message, short (never the request, so never the key)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return " ".join(response.text.split())[:200]
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", "") if isinstance(error, dict) else error
    return " ".join(str(message).split())[:200]
