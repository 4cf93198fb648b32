"""A fault-injecting HTTP proxy on 127.0.0.1 in front of moto.

infra-bot's boto3 clients talk to it (AWS_ENDPOINT_URL) and it forwards to moto,
except where it was told to do what AWS does on a bad day:

- fail a call: 400 Throttling / ThrottlingException (each protocol's own shape),
  500 InternalFailure, or a dropped connection, either before the request reaches
  moto or after moto did the work (the answer is lost). `Fault` says which calls:
  the Nth of each matching (service, action), for `times` calls in a row; with
  service and action "*" that is every action of every service once.
- take time the way CloudFormation does: a change set stays CREATE_IN_PROGRESS for
  `change_set_seconds` after CreateChangeSet, a stack *_IN_PROGRESS for
  `execute_seconds` after ExecuteChangeSet (moto does both at once);
- answer what CloudFormation answers where moto does otherwise: a second change set
  of the same name on a stack (AlreadyExistsException), executing a change set twice or
  one of a stack still executing another (InvalidChangeSetStatus), deleting a deleted
  change set (ChangeSetNotFound; moto answers an HTML 500 page);
- run a hook when it sees an action (a test kills the job there, or executes the
  change set itself as "someone else").

It only ever connects to the moto endpoint it was given; everything it saw and
injected is counted (`calls`, `injected`).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Kind(StrEnum):
    THROTTLE = "throttling (400)"
    SERVER_ERROR = "server error (500)"
    DROP = "dropped connection (request lost)"
    DROP_AFTER = "dropped connection (answer lost)"
    DENIED = "refused (400 AccessDenied, not retry-able)"


@dataclass(frozen=True)
class Fault:
    kind: Kind
    service: str = "*"  # cloudformation | sts | ssm | *
    action: str = "*"  # DescribeStacks, ExecuteChangeSet, PutParameter ... | *
    nth: int = 1  # the first call of each (service, action) that fails
    times: int = 1  # calls in a row from the nth

    def hits(self, service: str, action: str, n: int) -> bool:
        return (
            self.service in {"*", service}
            and self.action in {"*", action}
            and self.nth <= n < self.nth + self.times
        )


@dataclass(frozen=True)
class Call:
    service: str
    action: str
    params: dict[str, str]
    n: int  # this is the nth call of (service, action)


@dataclass(frozen=True)
class Injected:
    kind: Kind
    service: str
    action: str
    n: int


Hook = Callable[[Call], None]


@dataclass
class Proxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    change_set_seconds: float = 0.0
    execute_seconds: float = 0.0
    hooks: dict[str, Hook] = field(default_factory=dict)  # action -> called before forwarding
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    injected: list[Injected] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cs_ready: dict[tuple[str, str], float] = field(default_factory=dict)
    _stack_ready: dict[str, float] = field(default_factory=dict)
    _executed: set[str] = field(default_factory=set)
    _created: set[tuple[str, str]] = field(default_factory=set)
    _deleted: set[tuple[str, str]] = field(default_factory=set)

    def reset(self) -> None:
        """Forget faults, hooks, counts and timings (between scenarios)."""
        with self._lock:
            self.faults, self.hooks = [], {}
            self.calls.clear()
            self.injected.clear()
            self._cs_ready.clear()
            self._stack_ready.clear()
            self._executed.clear()
            self._created.clear()
            self._deleted.clear()

    def finish_executions(self) -> None:
        """Every executing stack is done now (CloudFormation finished without us)."""
        with self._lock:
            self._stack_ready.clear()

    def count(self, service: str, action: str) -> int:
        with self._lock:
            return self.calls[(service, action)]

    # -- the request path -------------------------------------------------------------

    def _classify(self, headers: Message, body: bytes) -> tuple[str, str, dict[str, str]]:
        auth = headers.get("Authorization", "")
        scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", auth)
        service = scope.group(1) if scope else "?"
        target = headers.get("X-Amz-Target")
        if target:  # JSON protocol (SSM)
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                data = {}
            params = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
            return service, target.rsplit(".", 1)[-1], params
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        return service, form.get("Action", "?"), form

    def _fault_for(self, call: Call) -> Fault | None:
        return next((f for f in self.faults if f.hits(call.service, call.action, call.n)), None)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        service, action, params = self._classify(handler.headers, body)
        with self._lock:
            self.calls[(service, action)] += 1
            call = Call(service, action, params, self.calls[(service, action)])
            fault = self._fault_for(call)
            if fault is not None:
                self.injected.append(Injected(fault.kind, service, action, call.n))
        hook = self.hooks.get(action)
        if hook is not None:
            hook(call)
        if fault is not None and fault.kind is Kind.DROP:
            handler.close_connection = True
            return
        if fault is not None and fault.kind in {Kind.THROTTLE, Kind.SERVER_ERROR, Kind.DENIED}:
            self._reply(handler, *error_response(fault.kind, service, handler.headers))
            return
        refusal = self._refusal(call)
        if refusal is not None:
            self._reply(handler, 400, "text/xml", refusal)
            return
        status, ctype, answer = self.forward(handler.command, handler.path, handler.headers, body)
        if status == 200:
            answer = self._slow_down(call, answer)  # moto did it, whether the answer arrives
        if fault is not None and fault.kind is Kind.DROP_AFTER:
            handler.close_connection = True
            return
        self._reply(handler, status, ctype, answer)

    def forward(
        self, method: str, path: str, headers: Message, body: bytes
    ) -> tuple[int, str, bytes]:
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            skip = {"host", "content-length", "connection", "transfer-encoding"}
            sent = {k: v for k, v in headers.items() if k.lower() not in skip}
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "text/xml", resp.read()
        finally:
            conn.close()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    # -- what CloudFormation does that moto does not ------------------------------------

    def _refusal(self, call: Call) -> bytes | None:
        stack = call.params.get("StackName", "")
        change_set = call.params.get("ChangeSetName", "")
        if call.service != "cloudformation":
            return None
        if call.action == "CreateChangeSet":
            with self._lock:
                if (stack, change_set) in self._created:
                    return query_error("AlreadyExistsException",
                                       f"ChangeSet [{change_set}] already exists")  # fmt: skip
            return None
        if call.action == "DeleteChangeSet":
            with self._lock:
                if (stack, change_set) in self._deleted:
                    return query_error("ChangeSetNotFound",
                                       f"ChangeSet [{change_set}] does not exist")  # fmt: skip
            return None
        if call.action != "ExecuteChangeSet":
            return None
        with self._lock:
            if change_set in self._executed:
                return query_error(
                    "InvalidChangeSetStatus",
                    f"ChangeSet [{change_set}] cannot be executed in its current status of "
                    "[EXECUTE_COMPLETE]",
                )
            if self._stack_ready.get(stack, 0.0) > time.monotonic():
                return query_error(
                    "InvalidChangeSetStatus",
                    f"ChangeSet [{change_set}] cannot be executed: stack [{stack}] is in "
                    "UPDATE_IN_PROGRESS state",
                )
        return None

    def _slow_down(self, call: Call, answer: bytes) -> bytes:
        if call.service != "cloudformation":
            return answer
        now = time.monotonic()
        stack = call.params.get("StackName", "")
        name = call.params.get("ChangeSetName", "")
        with self._lock:
            if call.action == "CreateChangeSet":
                self._created.add((stack, name))
                self._deleted.discard((stack, name))
                made = re.search(rb"<Id>([^<]+)</Id>", answer)
                ready = now + self.change_set_seconds
                self._cs_ready[(stack, name)] = ready
                if made:
                    self._cs_ready[(stack, made.group(1).decode())] = ready
            elif call.action == "DeleteChangeSet":
                self._created.discard((stack, name))
                self._deleted.add((stack, name))
            elif call.action == "ExecuteChangeSet":
                self._executed.add(name)
                self._stack_ready[stack] = now + self.execute_seconds
            elif call.action == "DescribeChangeSet":
                if self._cs_ready.get((stack, name), 0.0) > now:
                    answer = re.sub(
                        rb"<Status>(CREATE_COMPLETE|FAILED)</Status>",
                        b"<Status>CREATE_IN_PROGRESS</Status>",
                        answer,
                        count=1,
                    )
                    answer = re.sub(rb"<ExecutionStatus>[A-Z_]+</ExecutionStatus>",
                                    b"<ExecutionStatus>UNAVAILABLE</ExecutionStatus>", answer,
                                    count=1)  # fmt: skip
            elif call.action == "DescribeStacks" and self._stack_ready.get(stack, 0.0) > now:
                answer = re.sub(rb"<StackStatus>(CREATE|UPDATE)_COMPLETE</StackStatus>",
                                rb"<StackStatus>\1_IN_PROGRESS</StackStatus>", answer,
                                count=1)  # fmt: skip
        return answer


def query_error(code: str, message: str, kind: str = "Sender") -> bytes:
    return (
        f'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>fault-proxy</RequestId></ErrorResponse>"
    ).encode()


def error_response(kind: Kind, service: str, headers: Message) -> tuple[int, str, bytes]:
    """(status, content type, body) of the error AWS sends for `kind`, in the protocol of
    the request: JSON for SSM (X-Amz-Target), XML for CloudFormation and STS."""
    if kind is Kind.DENIED:
        return 400, "text/xml", query_error("AccessDenied", "not authorized to perform this")
    throttle = kind is Kind.THROTTLE
    status = 400 if throttle else 500
    if headers.get("X-Amz-Target"):
        code = "ThrottlingException" if throttle else "InternalServerError"
        body = json.dumps({"__type": code, "message": "Rate exceeded" if throttle else "oops"})
        return status, "application/x-amz-json-1.1", body.encode()
    code = "Throttling" if throttle else "InternalFailure"
    message = "Rate exceeded" if throttle else "We encountered an internal error. Try again."
    return status, "text/xml", query_error(code, message, "Sender" if throttle else "Receiver")


@contextmanager
def fault_proxy(upstream: str, **kwargs: object) -> Iterator[Proxy]:
    """A Proxy listening on 127.0.0.1 (a free port) until the block ends."""
    proxy = Proxy(upstream, **kwargs)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            proxy.handle(self)

        def do_GET(self) -> None:
            proxy.handle(self)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)  # fmt: skip
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
