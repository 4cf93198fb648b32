"""The CloudFormation calls infra-bot makes, behind a small interface.

`CloudFormationApi` is what the planner and deployer take as a parameter; the
boto3 implementation is the only place that knows about botocore. Responses stay
the API's own dictionaries (the pure modules parse them), so recorded response
shapes exercise the same code as live ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)


class CloudError(RuntimeError):
    """An AWS call failed in a way the user has to act on."""


class NoChangesError(CloudError):
    """CloudFormation refused a change set because nothing would change."""


class NotSupportedError(CloudError):
    """The endpoint does not implement this API (moto has no drift detection)."""


class ApiError(CloudError):
    """AWS answered an operation with an error: its code, message and HTTP status."""

    def __init__(self, operation: str, code: str, message: str, status: int | None) -> None:
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{_OP_NAMES.get(operation, operation)} failed: {code}: {message}")


class ThrottledError(ApiError):
    """Still throttled after botocore's retries and ours."""

    def __init__(self, operation: str, code: str, message: str, status: int | None) -> None:
        super().__init__(operation, code, message, status)
        self.args = (
            f"{_OP_NAMES.get(operation, operation)}: AWS kept throttling us ({code}) after "
            "every retry; other tools in this account may be calling it hard. Retry later.",
        )


class ServiceError(ApiError):
    """AWS failed on its side (HTTP 5xx) after the retries."""

    def __init__(self, operation: str, code: str, message: str, status: int | None) -> None:
        super().__init__(operation, code, message, status)
        self.args = (
            f"{_OP_NAMES.get(operation, operation)}: AWS failed on its side (HTTP {status}, "
            f"{code or 'no error code'}: {message or 'no message'}) after retries; usually "
            "transient: retry, and check the AWS Health Dashboard if it persists.",
        )


class UnreadableAnswerError(CloudError):
    """The endpoint's answer could not be parsed (an HTML error page, a truncated body)."""


class EndpointError(CloudError):
    """AWS could not be reached or signed for (network, endpoint, credentials)."""


# Operation names as the user knows them from the AWS docs and CloudTrail.
_OP_NAMES = {
    "describe_stacks": "DescribeStacks",
    "create_change_set": "CreateChangeSet",
    "describe_change_set": "DescribeChangeSet",
    "list_change_sets": "ListChangeSets",
    "get_template": "GetTemplate",
    "execute_change_set": "ExecuteChangeSet",
    "delete_change_set": "DeleteChangeSet",
    "describe_stack_events": "DescribeStackEvents",
    "delete_stack": "DeleteStack",
    "continue_update_rollback": "ContinueUpdateRollback",
    "detect_stack_drift": "DetectStackDrift",
    "describe_stack_drift_detection_status": "DescribeStackDriftDetectionStatus",
    "describe_stack_resource_drifts": "DescribeStackResourceDrifts",
}
_SNIPPET = 120


def translate(  # noqa: PLR0911 - one return per kind of failure
    exc: Exception, operation: str, *, in_client: bool = False
) -> CloudError | None:
    """botocore's exception hierarchy -> ours, in this one place; None for anything that
    is not botocore's (a bug: it propagates). The messages name the operation and say
    what to do, so no caller needs to know botocore.

    `in_client`: `exc` came out of a botocore client call and nothing else. botocore
    then also fails with plain KeyError/ValueError on some bodies it cannot read (a
    200 with an HTML page: KeyError of the result element), so those are unreadable
    answers too, not our bugs."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ClientError) and getattr(exc, "operation_name", None):
        operation = str(exc.operation_name)
    name = _OP_NAMES.get(operation, operation)
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "")), str(err.get("Message", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        status = int(status) if isinstance(status, int) else None
        if code in THROTTLING_CODES:
            return ThrottledError(operation, code, message, status)
        if status is not None and status >= 500:
            return ServiceError(operation, code, message, status)
        return ApiError(operation, code, message, status)
    if isinstance(exc, ResponseParserError):
        # botocore puts the raw body in the message; keep a short, single-line piece.
        text = " ".join(str(exc).split())[:_SNIPPET]
        return UnreadableAnswerError(
            f"{name}: the endpoint's answer could not be read ({text}…). AWS or a proxy "
            "in between failed; retry, and check the endpoint if it persists."
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return EndpointError(f"{name}: no usable AWS credentials in this run ({exc})")
    if isinstance(exc, EndpointConnectionError | ConnectionError | ReadTimeoutError):
        return EndpointError(f"{name}: AWS could not be reached ({exc}); retry")
    if isinstance(exc, BotoCoreError):
        return EndpointError(f"{name}: {exc}")
    if in_client and isinstance(exc, KeyError | ValueError | TypeError | AttributeError):
        return UnreadableAnswerError(
            f"{name}: the endpoint's answer could not be read (botocore: "
            f"{type(exc).__name__}: {str(exc)[:_SNIPPET]}). AWS or a proxy in between "
            "failed; retry, and check the endpoint if it persists."
        )
    return None


class CloudFormationApi(Protocol):
    def describe_stack(self, stack_name: str) -> dict[str, Any] | None: ...
    def create_change_set(self, **kwargs: Any) -> dict[str, Any]: ...
    def describe_change_set(self, stack_name: str, change_set: str) -> dict[str, Any] | None: ...
    def list_change_sets(self, stack_name: str) -> list[dict[str, Any]]: ...
    def change_set_template(self, stack_name: str, change_set: str) -> Any: ...
    def execute_change_set(self, stack_name: str, change_set: str) -> None: ...
    def delete_change_set(self, stack_name: str, change_set: str) -> None: ...
    def stack_events(self, stack_name: str) -> list[dict[str, Any]]: ...
    def delete_stack(self, stack_name: str) -> None: ...
    def stack_template(self, stack_name: str) -> Any: ...
    def continue_update_rollback(self, stack_name: str, skip: list[str]) -> None: ...
    def detect_drift(self, stack_name: str) -> str: ...
    def drift_detection_status(self, detection_id: str) -> dict[str, Any]: ...
    def resource_drifts(self, stack_name: str) -> list[dict[str, Any]]: ...


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return exc.code
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def retrying_call(
    fn: Callable[[], T], attempts: int = 4, max_wait: float = 20.0, initial: float = 1.0
) -> T:
    """Call `fn`, retrying throttling errors that outlived botocore's own retries."""
    retryer = Retrying(
        retry=retry_if_exception(is_throttling),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=initial, max=max_wait, jitter=initial),
        reraise=True,
    )
    return retryer(fn)


def _not_found(exc: BaseException) -> bool:
    """A stack or change set that does not exist (CloudFormation says so in a ValidationError)."""
    if not isinstance(exc, ApiError):
        return False
    if exc.code in {"ChangeSetNotFound", "ChangeSetNotFoundException"}:
        return True
    return exc.code == "ValidationError" and "does not exist" in exc.message


class Boto3CloudFormation:
    """CloudFormationApi over a boto3 client (created with adaptive retries)."""

    def __init__(self, client: Any, retry_attempts: int = 4, retry_wait: float = 1.0) -> None:
        self._client = client
        self._attempts = retry_attempts
        self._wait = retry_wait

    def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self._client, op)
        try:
            result: dict[str, Any] = retrying_call(
                lambda: method(**kwargs), attempts=self._attempts, initial=self._wait
            )
        except Exception as exc:
            mine = translate(exc, op, in_client=True)
            if mine is None:
                raise
            raise mine from exc
        return result

    def _paged(self, op: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._call(op, **kwargs, **({"NextToken": token} if token else {}))
            items.extend(page.get(key, []))
            token = page.get("NextToken")
            if not token:
                return items

    def describe_stack(self, stack_name: str) -> dict[str, Any] | None:
        try:
            stacks = self._call("describe_stacks", StackName=stack_name).get("Stacks", [])
        except ApiError as exc:
            if _not_found(exc):
                return None
            raise
        return stacks[0] if stacks else None

    def create_change_set(self, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._call("create_change_set", **kwargs)
        except ApiError as exc:
            # Usually an empty change set is created FAILED; some endpoints refuse outright.
            if exc.code == "ValidationError" and "No updates are to be performed" in exc.message:
                raise NoChangesError(exc.message) from None
            if exc.code in {"AlreadyExists", "AlreadyExistsException"}:
                # A retry after a lost answer: the first call made it. Its id is returned;
                # the planner compares its content with the spec before showing it.
                made = self.describe_change_set(kwargs["StackName"], kwargs["ChangeSetName"])
                if made and made.get("ChangeSetId"):
                    return {"Id": made["ChangeSetId"], "StackId": made.get("StackId")}
            raise

    def describe_change_set(self, stack_name: str, change_set: str) -> dict[str, Any] | None:
        """The whole change set (every page of Changes) with property values."""
        try:
            first = self._call(
                "describe_change_set",
                StackName=stack_name,
                ChangeSetName=change_set,
                IncludePropertyValues=True,
            )
        except ApiError as exc:
            if _not_found(exc):
                return None
            raise
        changes = list(first.get("Changes", []))
        token = first.get("NextToken")
        while token:
            page = self._call(
                "describe_change_set",
                StackName=stack_name,
                ChangeSetName=change_set,
                IncludePropertyValues=True,
                NextToken=token,
            )
            changes.extend(page.get("Changes", []))
            token = page.get("NextToken")
        first.pop("ResponseMetadata", None)
        return {**first, "Changes": changes}

    def list_change_sets(self, stack_name: str) -> list[dict[str, Any]]:
        try:
            summaries = self._paged("list_change_sets", "Summaries", StackName=stack_name)
        except ApiError as exc:
            if _not_found(exc):
                return []
            raise
        # moto lists every stack's change sets; never act on another stack's.
        return [s for s in summaries if s.get("StackName", stack_name) == stack_name]

    def change_set_template(self, stack_name: str, change_set: str) -> Any:
        """The template as submitted with the change set (GetTemplate, stage Original):
        a dict when it is JSON (botocore decodes it), else the text."""
        return self._call(
            "get_template",
            StackName=stack_name,
            ChangeSetName=change_set,
            TemplateStage="Original",
        ).get("TemplateBody")

    def execute_change_set(self, stack_name: str, change_set: str) -> None:
        """Start `change_set` (an id: the one the deployer verified). Already started, by a
        retry whose first answer was lost or by someone else, is not an error: it is the
        verified change set that runs, and the deployer watches it to its end."""
        try:
            self._call("execute_change_set", StackName=stack_name, ChangeSetName=change_set)
        except ApiError as exc:
            if exc.code not in {"InvalidChangeSetStatus", "InvalidChangeSetStatusException"}:
                raise
            desc = self.describe_change_set(stack_name, change_set)
            started = {"EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE", "EXECUTE_FAILED"}
            if desc is None or desc.get("ExecutionStatus") not in started:
                raise

    def delete_change_set(self, stack_name: str, change_set: str) -> None:
        """Gone already is done (a retry whose first answer was lost finds nothing)."""
        try:
            self._call("delete_change_set", StackName=stack_name, ChangeSetName=change_set)
        except ApiError as exc:
            if not _not_found(exc):
                raise

    def stack_events(self, stack_name: str) -> list[dict[str, Any]]:
        """Newest first, like the API. One page: callers poll and keep what they saw."""
        return list(
            self._call("describe_stack_events", StackName=stack_name).get("StackEvents", [])
        )

    def delete_stack(self, stack_name: str) -> None:
        self._call("delete_stack", StackName=stack_name)

    def stack_template(self, stack_name: str) -> Any:
        """The template the stack runs now (stage Original), as change_set_template."""
        return self._call("get_template", StackName=stack_name, TemplateStage="Original").get(
            "TemplateBody"
        )

    def continue_update_rollback(self, stack_name: str, skip: list[str]) -> None:
        self._call("continue_update_rollback", StackName=stack_name, ResourcesToSkip=skip)

    def detect_drift(self, stack_name: str) -> str:
        try:
            return str(
                self._call("detect_stack_drift", StackName=stack_name)["StackDriftDetectionId"]
            )
        except UnreadableAnswerError:
            # moto answers unimplemented actions with an HTML 500 page.
            raise NotSupportedError("this endpoint does not implement drift detection") from None
        except ApiError as exc:
            if exc.code in {"InternalFailure", "NotImplemented", "InvalidAction"}:
                raise NotSupportedError(
                    f"this endpoint does not implement drift detection ({error_code(exc)})"
                ) from None
            raise

    def drift_detection_status(self, detection_id: str) -> dict[str, Any]:
        return self._call(
            "describe_stack_drift_detection_status", StackDriftDetectionId=detection_id
        )

    def resource_drifts(self, stack_name: str) -> list[dict[str, Any]]:
        return self._paged(
            "describe_stack_resource_drifts",
            "StackResourceDrifts",
            StackName=stack_name,
            StackResourceDriftStatusFilters=["MODIFIED", "DELETED"],
        )
