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
    def detect_drift(self, stack_name: str) -> str: ...
    def drift_detection_status(self, detection_id: str) -> dict[str, Any]: ...
    def resource_drifts(self, stack_name: str) -> list[dict[str, Any]]: ...


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def cloud_failure(exc: BaseException) -> str | None:
    """One line for an AWS call that failed for good (after botocore's and tenacity's
    retries: throttling, 5xx, a dropped connection, a refusal), or None for an error
    that is not an AWS call's (a bug, which should surface as one)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    if isinstance(exc, CloudError):
        return str(exc)
    if isinstance(exc, ResponseParserError):  # not a BotoCoreError: an answer that is no AWS's
        return f"AWS answered something that is not an AWS response: {str(exc)[:200]}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        op = getattr(exc, "operation_name", "") or "call"
        return f"AWS {op} failed: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip()
    if isinstance(exc, BotoCoreError):
        return f"AWS call failed: {exc}"
    return None


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
    code = error_code(exc)
    if code in {"ChangeSetNotFound", "ChangeSetNotFoundException"}:
        return True
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
    return code == "ValidationError" and "does not exist" in message


class Boto3CloudFormation:
    """CloudFormationApi over a boto3 client (created with adaptive retries)."""

    def __init__(self, client: Any, retry_attempts: int = 4, retry_wait: float = 1.0) -> None:
        self._client = client
        self._attempts = retry_attempts
        self._wait = retry_wait

    def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self._client, op)
        result: dict[str, Any] = retrying_call(
            lambda: method(**kwargs), attempts=self._attempts, initial=self._wait
        )
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
        from botocore.exceptions import ClientError

        try:
            stacks = self._call("describe_stacks", StackName=stack_name).get("Stacks", [])
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return stacks[0] if stacks else None

    def create_change_set(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return self._call("create_change_set", **kwargs)
        except ClientError as exc:
            # Usually an empty change set is created FAILED; some endpoints refuse outright.
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if error_code(exc) == "ValidationError" and "No updates are to be performed" in message:
                raise NoChangesError(message) from None
            if error_code(exc) in {"AlreadyExists", "AlreadyExistsException"}:
                # A retry after a lost answer: the first call made it. Its id is returned;
                # the planner compares its content with the spec before showing it.
                made = self.describe_change_set(kwargs["StackName"], kwargs["ChangeSetName"])
                if made and made.get("ChangeSetId"):
                    return {"Id": made["ChangeSetId"], "StackId": made.get("StackId")}
            raise

    def describe_change_set(self, stack_name: str, change_set: str) -> dict[str, Any] | None:
        """The whole change set (every page of Changes) with property values."""
        from botocore.exceptions import ClientError

        try:
            first = self._call(
                "describe_change_set",
                StackName=stack_name,
                ChangeSetName=change_set,
                IncludePropertyValues=True,
            )
        except ClientError as exc:
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
        from botocore.exceptions import ClientError

        try:
            summaries = self._paged("list_change_sets", "Summaries", StackName=stack_name)
        except ClientError as exc:
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
        from botocore.exceptions import ClientError

        try:
            self._call("execute_change_set", StackName=stack_name, ChangeSetName=change_set)
        except ClientError as exc:
            if error_code(exc) not in {"InvalidChangeSetStatus", "InvalidChangeSetStatusException"}:
                raise
            desc = self.describe_change_set(stack_name, change_set)
            started = {"EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE", "EXECUTE_FAILED"}
            if desc is None or desc.get("ExecutionStatus") not in started:
                raise

    def delete_change_set(self, stack_name: str, change_set: str) -> None:
        """Gone already is done (a retry whose first answer was lost finds nothing)."""
        from botocore.exceptions import ClientError

        try:
            self._call("delete_change_set", StackName=stack_name, ChangeSetName=change_set)
        except ClientError as exc:
            if not _not_found(exc):
                raise

    def stack_events(self, stack_name: str) -> list[dict[str, Any]]:
        """Newest first, like the API. One page: callers poll and keep what they saw."""
        return list(
            self._call("describe_stack_events", StackName=stack_name).get("StackEvents", [])
        )

    def delete_stack(self, stack_name: str) -> None:
        self._call("delete_stack", StackName=stack_name)

    def detect_drift(self, stack_name: str) -> str:
        from botocore.exceptions import ClientError
        from botocore.parsers import ResponseParserError

        try:
            return str(
                self._call("detect_stack_drift", StackName=stack_name)["StackDriftDetectionId"]
            )
        except ResponseParserError:
            # moto answers unimplemented actions with an HTML 500 page.
            raise NotSupportedError("this endpoint does not implement drift detection") from None
        except ClientError as exc:
            if error_code(exc) in {"InternalFailure", "NotImplemented", "InvalidAction"}:
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
