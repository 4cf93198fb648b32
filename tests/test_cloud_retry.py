"""Throttling is retried: by botocore's adaptive mode, and by tenacity after it.

A local HTTP endpoint on 127.0.0.1 answers the first N requests with the
Throttling error CloudFormation sends, then a real DescribeStacks response.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bot.cloud.adapter import Boto3CloudFormation, ThrottledError, is_throttling, retrying_call
from bot.cloud.session import client_config

THROTTLED = b"""<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>8a2f</RequestId></ErrorResponse>"""
INVALID = b"""<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error><Type>Sender</Type><Code>ValidationError</Code>
  <Message>Stack with id nope does not exist</Message></Error>
  <RequestId>8a30</RequestId></ErrorResponse>"""
STACKS = b"""<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult><Stacks><member>
    <StackName>platform-dev-vpc</StackName>
    <StackId>arn:aws:cloudformation:us-east-1:111111111111:stack/platform-dev-vpc/1</StackId>
    <CreationTime>2026-11-20T10:00:00Z</CreationTime>
    <StackStatus>CREATE_COMPLETE</StackStatus>
  </member></Stacks></DescribeStacksResult>
  <ResponseMetadata><RequestId>8a31</RequestId></ResponseMetadata></DescribeStacksResponse>"""


class Endpoint:
    def __init__(self) -> None:
        self.throttle_first = 0
        self.requests = 0
        self.body_after = STACKS
        self.status_after = 200


@pytest.fixture
def endpoint() -> Iterator[tuple[str, Endpoint]]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests += 1
            if state.requests <= state.throttle_first:
                status, body = 400, THROTTLED
            else:
                status, body = state.status_after, state.body_after
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def cfn_client(url: str, attempts: int, adaptive: bool = True) -> object:
    # Adaptive mode also rate-limits the client after a throttle (seconds of sleep); the
    # tenacity tests turn botocore's retries off instead, in standard mode.
    config = (
        client_config(attempts)
        if adaptive
        else Config(retries={"mode": "standard", "total_max_attempts": 1})
    )
    return boto3.client(
        "cloudformation",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def test_botocore_adaptive_mode_retries_throttling(endpoint: tuple[str, Endpoint]) -> None:
    url, state = endpoint
    state.throttle_first = 2
    api = Boto3CloudFormation(cfn_client(url, attempts=4), retry_attempts=1)
    stack = api.describe_stack("platform-dev-vpc")
    assert stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
    assert state.requests == 3


def test_tenacity_retries_throttling_that_outlives_botocore(endpoint: tuple[str, Endpoint]) -> None:
    url, state = endpoint
    state.throttle_first = 3
    # botocore gives up after one attempt each time; tenacity tries four times.
    api = Boto3CloudFormation(
        cfn_client(url, attempts=1, adaptive=False), retry_attempts=4, retry_wait=0.01
    )
    stack = api.describe_stack("platform-dev-vpc")
    assert stack is not None and state.requests == 4


def test_persistent_throttling_surfaces(endpoint: tuple[str, Endpoint]) -> None:
    url, state = endpoint
    state.throttle_first = 100
    api = Boto3CloudFormation(
        cfn_client(url, attempts=1, adaptive=False), retry_attempts=3, retry_wait=0.01
    )
    # Surfaces as our ThrottledError, saying so: the CLI and the deploy results show it.
    with pytest.raises(ThrottledError, match="DescribeStacks: AWS kept throttling") as info:
        api.describe_stack("platform-dev-vpc")
    assert is_throttling(info.value.__cause__ or info.value)
    assert state.requests == 3


def test_other_errors_are_not_retried(endpoint: tuple[str, Endpoint]) -> None:
    url, state = endpoint
    state.body_after, state.status_after = INVALID, 400
    api = Boto3CloudFormation(cfn_client(url, attempts=4), retry_attempts=4, retry_wait=0.01)
    assert api.describe_stack("nope") is None  # "does not exist" means no stack
    assert state.requests == 1


@pytest.mark.parametrize(
    ("code", "expected"),
    [("Throttling", True), ("ThrottlingException", True), ("RequestLimitExceeded", True),
     ("ValidationError", False), ("AccessDenied", False)],
)  # fmt: skip
def test_is_throttling(code: str, expected: bool) -> None:
    exc = ClientError({"Error": {"Code": code, "Message": "m"}}, "DescribeStacks")
    assert is_throttling(exc) is expected
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise exc
        return "ok"

    if expected:
        assert retrying_call(flaky, attempts=2, initial=0.001) == "ok"
    else:
        with pytest.raises(ClientError):
            retrying_call(flaky, attempts=2, initial=0.001)
        assert len(calls) == 1
