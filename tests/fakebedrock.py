"""A fake Bedrock Converse endpoint: real HTTP on 127.0.0.1, the real response shape.

langchain-aws (through botocore) signs and POSTs to `/model/<modelId>/converse`;
this server records each request body and answers from a queue the test fills:
a tool call, plain text, an AWS error (throttling, access denied ...), or
something malformed. Usage counts are derived from the request size, so token
accounting is exercised end to end.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def converse_body(content: list[dict[str, Any]], stop: str, request: dict[str, Any]) -> bytes:
    input_tokens = len(json.dumps(request)) // 4
    output_tokens = max(1, len(json.dumps(content)) // 4)
    return json.dumps(
        {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": 12},
        }
    ).encode()


Script = Callable[[dict[str, Any]], Reply]


def tool_call(args: dict[str, Any], name: str = "propose_change") -> Script:
    """The model calls `name` with `args` (what a forced tool choice returns)."""

    def make(request: dict[str, Any]) -> Reply:
        n = sum(1 for m in request.get("messages", []) if m.get("role") == "assistant")
        content = [
            {"text": "Here is the change."},
            {"toolUse": {"toolUseId": f"tooluse_{n + 1:04d}", "name": name, "input": args}},
        ]
        return Reply(200, converse_body(content, "tool_use", request))

    return make


def text_only(text: str) -> Script:
    def make(request: dict[str, Any]) -> Reply:
        return Reply(200, converse_body([{"text": text}], "end_turn", request))

    return make


def aws_error(status: int, code: str, message: str) -> Script:
    def make(request: dict[str, Any]) -> Reply:
        body = json.dumps({"message": message}).encode()
        return Reply(status, body, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"})

    return make


def throttling() -> Script:
    return aws_error(
        429, "ThrottlingException", "Too many requests, please wait before trying again."
    )


def access_denied(model: str = "anthropic.claude") -> Script:
    return aws_error(
        403,
        "AccessDeniedException",
        f"You don't have access to the model with the specified model ID {model}.",
    )


def not_found() -> Script:
    return aws_error(
        404,
        "ResourceNotFoundException",
        "Could not resolve the foundation model from the provided model identifier.",
    )


def slow(seconds: float, then: Script) -> Script:
    """Answer only after `seconds` (longer than the client's read timeout: a timeout)."""

    def make(request: dict[str, Any]) -> Reply:
        import time

        time.sleep(seconds)
        return then(request)

    return make


def garbage() -> Script:
    """Not JSON at all: what a broken proxy in front of Bedrock might send."""

    def make(request: dict[str, Any]) -> Reply:
        return Reply(200, b"<html>upstream hiccup</html>", {"Content-Type": "text/html"})

    return make


@dataclass
class Recorded:
    model_id: str
    body: dict[str, Any]

    def text(self) -> str:
        """Every text block of the request (system and messages), joined."""
        parts = [s.get("text", "") for s in self.body.get("system", [])]
        for message in self.body.get("messages", []):
            for block in message.get("content", []):
                if "text" in block:
                    parts.append(block["text"])
                for item in block.get("toolResult", {}).get("content", []):
                    parts.append(item.get("text", ""))
        return "\n".join(parts)


class FakeBedrock:
    def __init__(self) -> None:
        self.queue: deque[Script] = deque()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *scripts: Script) -> None:
        self.queue.extend(scripts)

    def start(self) -> FakeBedrock:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, model_id: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(Recorded(model_id, body))
            if not self.queue:
                return aws_error(400, "ValidationException", "fake: no scripted response left")(
                    body
                )
            script = self.queue.popleft()
        return script(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = self.path.split("/")
                if len(parts) != 4 or parts[1] != "model" or parts[3] != "converse":
                    self._send(
                        Reply(
                            404,
                            b'{"message":"unknown path"}',
                            {"x-amzn-ErrorType": "UnknownOperationException"},
                        )
                    )
                    return
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(
                        Reply(
                            400,
                            b'{"message":"bad json"}',
                            {"x-amzn-ErrorType": "ValidationException"},
                        )
                    )
                    return
                self._send(fake._next(unquote(parts[2]), body))

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def running() -> Iterator[FakeBedrock]:
    """For a pytest fixture: `yield from running()`."""
    fake = FakeBedrock().start()
    try:
        yield fake
    finally:
        fake.stop()


# --------------------------------------------------------------- scenarios
# A small platform for generation tests: the real guard rules and kms stack from
# the reference platform, one environment, so each check round stays quick.
def mini_platform(root: Any, extra: dict[str, str] | None = None) -> Any:
    import shutil
    from pathlib import Path

    source = Path(__file__).resolve().parent.parent
    root = Path(root)
    shutil.copytree(source / "guard", root / "guard")
    (root / "stacks").mkdir()
    shutil.copy(source / "stacks" / "kms.yaml", root / "stacks" / "kms.yaml")
    (root / "environments" / "dev").mkdir(parents=True)
    shutil.copy(source / "environments" / "dev.yaml", root / "environments" / "dev.yaml")
    shutil.copy(
        source / "environments" / "dev" / "kms.yaml", root / "environments" / "dev" / "kms.yaml"
    )
    for rel, text in (extra or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root
