"""A scripted OpenAI-compatible chat server on a loopback port, for exact cases of the generative path.

Each request takes the next `Script` (or the default one): the reply's text pieces, streamed as `chat.completion.chunk`
server-sent events or sent as one `chat.completion` body, with delays, an HTTP error, a raw body (garbage), or a wait
before anything is sent. A script's `pieces` may be a function of the request body, so a reply can cite the passage
number the prompt gave a sentence. Every request's body and headers are kept, and a stream that the client broke
off is noted (`aborted`), with how many pieces had been sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Pieces = list[str] | Callable[[dict[str, Any]], list[str]]


@dataclass
class Script:
    pieces: Pieces = field(default_factory=lambda: ["The documents do not answer this question."])
    delay: float = 0.0  # before each piece
    delays: list[float] | None = None  # before each piece, one by one (instead of `delay`)
    wait: float = 0.0  # before the response starts (a server that accepts and says nothing)
    status: int = 200
    body: str | None = None  # sent as is (with `status`), instead of a completion
    stream: bool = True  # False: one chat.completion JSON body
    finish: str = "stop"
    then: str | None = None  # raw text written after the pieces instead of `data: [DONE]` (garbage mid-stream)


def passage_number(request: dict[str, Any], needle: str) -> int:
    """The number the prompt gave the passage holding `needle`."""
    user = request["messages"][-1]["content"]
    for number, text in re.findall(r"<passage n=\"(\d+)\"[^\n]*\n(.*?)\n</passage>", user, re.S):
        if needle in text:
            return int(number)
    raise AssertionError(f"no passage holds {needle!r}")


class FakeLLM:
    def __init__(self) -> None:
        self.scripts: deque[Script] = deque()
        self.default = Script()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.aborted = threading.Event()
        self.sent = 0  # pieces sent in the last stream
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                fake.requests.append(body)
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                fake.serve(self, body, fake.scripts.popleft() if fake.scripts else fake.default)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def reply(self, *scripts: Script) -> None:
        self.scripts.extend(scripts)

    def serve(self, handler: BaseHTTPRequestHandler, request: dict[str, Any], script: Script) -> None:
        time.sleep(script.wait)
        if script.body is not None:
            return self._send(handler, script.status, script.body.encode(), "application/json")
        pieces = script.pieces(request) if callable(script.pieces) else script.pieces
        if not script.stream:
            message = {"role": "assistant", "content": "".join(pieces)}
            data = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": script.finish}]}
            return self._send(handler, 200, json.dumps(data).encode(), "application/json")
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.end_headers()
        self.sent = 0
        try:
            for i, piece in enumerate(pieces):
                time.sleep(script.delays[i] if script.delays else script.delay)
                finish = script.finish if i == len(pieces) - 1 and script.then is None else None
                chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}]}
                handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                handler.wfile.flush()
                self.sent += 1
            handler.wfile.write(script.then.encode() if script.then is not None else b"data: [DONE]\n\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.aborted.set()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, data: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("content-type", kind)
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> "FakeLLM":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def words(text: str) -> list[str]:
    """`text` as the pieces a model streams: one word (and the space before it) at a time."""
    return re.findall(r"\s*\S+", text)
