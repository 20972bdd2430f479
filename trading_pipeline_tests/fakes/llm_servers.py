"""A local LLM provider on 127.0.0.1 speaking Anthropic Messages (``POST /v1/messages``) and Groq's
OpenAI-compatible chat completions (``POST /openai/v1/chat/completions``), so that tests run the real SDKs.

Replies are scripted (a queue of ``Reply``, then a default reply or a function of the request) and every
request is recorded with its headers and JSON body.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANTHROPIC_PATH = "/v1/messages"
GROQ_PATH = "/openai/v1/chat/completions"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_data(self) -> dict[str, Any]:
        """The JSON document of the user message (both wire formats)."""
        return json.loads(self.body["messages"][-1]["content"])

    @property
    def system(self) -> str:
        if "system" in self.body:
            return self.body["system"]
        return next(m["content"] for m in self.body["messages"] if m["role"] == "system")


Responder = Reply | Callable[[RecordedRequest], Reply]


class ScriptedLLMServer:
    """``with ScriptedLLMServer(default) as server:`` then point the SDK's base_url at ``server.base_url``."""

    def __init__(self, default: Responder | None = None) -> None:
        self.default = default
        self.requests: list[RecordedRequest] = []
        self._script: deque[Responder] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Responder) -> None:
        """Replies served before the default, in order."""
        with self._lock:
            self._script.extend(replies)

    def __enter__(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            responder = self._script.popleft() if self._script else self.default
        if responder is None:
            return Reply(500, {"error": "no scripted reply"})
        return responder(request) if callable(responder) else responder

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.split("?")[0]
                if path not in (ANTHROPIC_PATH, GROQ_PATH):
                    self._send(Reply(404, {"error": {"message": f"no route {path}"}}))
                    return
                request = RecordedRequest(path, {k.lower(): v for k, v in self.headers.items()}, body)
                self._send(server._next(request))

            def _send(self, reply: Reply) -> None:
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # keep test output quiet
                return

        return Handler


def groq_completion(content: str, prompt_tokens: int = 321, completion_tokens: int = 45) -> Reply:
    """An OpenAI-style chat.completion as Groq returns it."""
    return Reply(
        200,
        {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "llama-3.3-70b-versatile",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_test",
        },
    )


def anthropic_message(text: str, input_tokens: int = 210, output_tokens: int = 34) -> Reply:
    """A Messages API response with one text block."""
    return Reply(
        200,
        {
            "id": f"msg_{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5-5",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
    )


def error_reply(status: int, retry_after_ms: int | None = None, message: str = "try again") -> Reply:
    """A provider error; ``retry_after_ms`` sets the header both SDKs honour (kept tiny in tests)."""
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    body = {
        "type": "error",
        "error": {"type": "rate_limit_error" if status == 429 else "api_error", "message": message},
    }
    return Reply(status, body, headers)


def groq_choosing(strategy: str | Callable[[dict[str, Any]], str]) -> Callable[[RecordedRequest], Reply]:
    """A Groq that answers every selection request validly, choosing ``strategy`` (or strategy(row)) per symbol."""

    def reply(request: RecordedRequest) -> Reply:
        rows = request.user_data["symbols"]
        choices = [
            {
                "symbol": row["symbol"],
                "strategy": strategy(row) if callable(strategy) else strategy,
                "reason": "fake model",
            }
            for row in rows
        ]
        return groq_completion(json.dumps({"choices": choices}))

    return reply
