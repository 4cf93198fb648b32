"""The demo's AWS: a moto server on 127.0.0.1, three accounts, never real AWS.

moto 5 executes change sets but skips two things CloudFormation does on
execution: it neither publishes the stack's outputs as exports (so a later
stack's Fn::ImportValue fails) nor applies the change set's tags and parameters
to an existing stack (so the next change set compares against stale values).
And a second CREATE change set for a stack still in REVIEW_IN_PROGRESS (planned
on the PR, planned again after the merge) makes moto a second stack of the same
name, which describe_stacks never shows leaving review. Finally, a stack update
re-parses resources whose Condition is false (the VPC's third NAT gateway in an
environment with one), failing on their Fn::GetAtt, and replaces every modified
resource whose moto model cannot update (an EIP: a tag changed) by None, which
the next Fn::GetAtt reads as "undefined resource". CloudFormation skips the
first and updates the second in place; the patch keeps both as they were.
Deploy records live in stack tags and the platform is a chain of imports, so
`patch_change_sets` adds both to moto's backend. infra-bot verifies a change set by
its content before executing it, which moto cannot show: its GetTemplate ignores
ChangeSetName (it answers the stack's template), its DescribeChangeSet drops the
tags and it never records the capabilities; the patch answers all three as
CloudFormation does. It changes the stand-in, not
infra-bot: nothing outside bot/demo knows about it.

The endpoint is handed to boto3 through the per-service variables
(AWS_ENDPOINT_URL_CLOUDFORMATION, ...), not the global AWS_ENDPOINT_URL, so a
user's real credentials still reach Bedrock while every CloudFormation, STS and
SSM call stays on 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# Services the demo's commands call; each gets the moto endpoint.
SERVICES = ("cloudformation", "sts", "ssm", "s3", "iam", "ec2", "logs", "kms", "sqs")
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_SESSION_TOKEN": "demo",
}


class MotoMissingError(RuntimeError):
    """moto is an optional dependency (`pip install 'infra-bot[demo]'`)."""


def patch_change_sets() -> None:
    """Make moto's ExecuteChangeSet publish exports and keep tags/parameters. Idempotent."""
    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.parsing import ResourceMap

    original = CloudFormationBackend.execute_change_set
    if getattr(original, "_infra_bot_patched", False):
        return

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        # By id, or by name within the stack: change set names are per stack.
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values()
             if cs.change_set_name == change_set_name
             and stack_name in {None, cs.stack_name, cs.stack_id}),
            None,
        )  # fmt: skip
        if change_set is not None:
            # A stack born from a change set resolves Fn::ImportValue against nothing.
            stack = self.stacks[change_set.stack_id]
            stack.cross_stack_resources = self.exports
            stack.resource_map.cross_stack_resources = self.exports
        original(self, change_set_name, stack_name)
        if change_set is None:
            return
        if change_set.tags:
            stack.tags = dict(change_set.tags)
        # moto compares later change sets with these to decide "no changes".
        stack.parameters = change_set.parameters
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            self.exports[export.name] = export

    create_original = CloudFormationBackend.create_change_set

    def create_change_set(self: Any, stack_name: str, *args: Any, **kwargs: Any) -> Any:
        kind = kwargs.get("change_set_type", args[4] if len(args) > 4 else None)
        if kind == "CREATE":
            # CloudFormation reuses the stack under review; moto would add a twin.
            for stack_id, stack in list(self.stacks.items()):
                if stack.name == stack_name and stack.status == "REVIEW_IN_PROGRESS":
                    del self.stacks[stack_id]
        return create_original(self, stack_name, *args, **kwargs)

    diff_original = ResourceMap.build_resource_diff

    def build_resource_diff(self: Any, template: dict[str, Any], *args: Any) -> Any:
        actions = diff_original(self, template, *args)
        resources = template.get("Resources", {})
        conditions = getattr(self, "lazy_condition_map", {})

        def off(name: str) -> bool:
            condition = resources.get(name, {}).get("Condition")
            return bool(condition) and condition in conditions and not conditions[condition]

        for action in ("Add", "Modify"):
            actions[action] = [n for n in actions[action] if not off(n)]
        return actions

    update_original = parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id: str, resource_json: Any, resources_map: Any,
                                  *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        updated = update_original(logical_id, resource_json, resources_map, *args, **kwargs)
        return updated if updated is not None else resources_map[logical_id]

    parsing.parse_and_update_resource = parse_and_update_resource
    _patch_change_set_content()
    execute_change_set._infra_bot_patched = True  # type: ignore[attr-defined]
    ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign,assignment]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    CloudFormationBackend.create_change_set = create_change_set  # type: ignore[method-assign]


def _patch_change_set_content() -> None:
    """GetTemplate with ChangeSetName; DescribeChangeSet with its Tags and Capabilities."""
    from moto.cloudformation.responses import CloudFormationResponse, transform_dict
    from moto.core.responses import ActionResult

    def find(backend: Any, stack_name: str | None, name: str) -> Any:
        by_id = backend.change_sets.get(name)
        if by_id is not None:
            return by_id
        return next(
            (cs for cs in backend.change_sets.values()
             if cs.change_set_name == name and stack_name in {None, cs.stack_name, cs.stack_id}),
            None,
        )  # fmt: skip

    get_template_original = CloudFormationResponse.get_template

    def get_template(self: Any) -> Any:
        name = self._get_param("ChangeSetName")
        if not name:
            return get_template_original(self)
        change_set = find(self.cloudformation_backend, self._get_param("StackName"), name)
        if change_set is None:
            from moto.cloudformation.exceptions import ValidationError

            raise ValidationError(name, message=f"ChangeSet [{name}] does not exist")
        return ActionResult({"TemplateBody": change_set.template, "StagesAvailable": ["Original"]})

    create_original = CloudFormationResponse.create_change_set

    def create_change_set(self: Any) -> Any:
        result = create_original(self)
        created: dict[str, Any] = result.result  # type: ignore[assignment]
        change_set = find(self.cloudformation_backend, None, created["Id"])
        if change_set is not None:
            change_set.capabilities = list(self._get_param("Capabilities", []))
        return result

    # Tags are a dict on moto's model; the API answers a list, as it does for stacks.
    transformers = CloudFormationResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER
    transformers["DescribeChangeSetOutput.Tags"] = transform_dict
    CloudFormationResponse.get_template = get_template  # type: ignore[method-assign]
    CloudFormationResponse.create_change_set = create_change_set  # type: ignore[method-assign]


def endpoint_variables(endpoint: str) -> dict[str, str]:
    """The environment that sends the demo's AWS services to `endpoint`. Pure."""
    return {f"AWS_ENDPOINT_URL_{s.upper()}": endpoint for s in SERVICES}


def has_credentials(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Real credentials the user already has (then Bedrock is tried)."""
    import boto3

    if environ.get("AWS_ACCESS_KEY_ID") or environ.get("AWS_PROFILE"):
        return True
    return boto3.Session().get_credentials() is not None


@contextmanager
def quiet_moto() -> Iterator[None]:
    """moto's request log, its tracebacks for actions it lacks (drift detection) and
    its warnings about resource types it skips would bury the demo's own output."""
    loggers = [logging.getLogger(name) for name in ("werkzeug", "moto")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"moto\.")
            warnings.filterwarnings("ignore", message=r"Tried to parse AWS::")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@dataclass(frozen=True)
class MotoCloud:
    endpoint: str
    used_real_credentials: bool


@contextmanager
def moto_cloud() -> Iterator[MotoCloud]:
    """Start moto, point boto3 at it for this process, and undo both afterwards."""
    try:
        from moto.server import ThreadedMotoServer
    except ModuleNotFoundError:
        raise MotoMissingError(
            "the demo needs moto: pip install 'infra-bot[demo]' (make demo does this)"
        ) from None
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # no 1 s IMDS probe
    real = has_credentials(os.environ)
    with quiet_moto():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        changes = {**endpoint_variables(endpoint), "AWS_DEFAULT_REGION": "us-east-1"}
        if not real:
            changes.update(DUMMY_CREDENTIALS)
        try:
            with environ(changes):
                patch_change_sets()
                yield MotoCloud(endpoint, real)
        finally:
            server.stop()


@contextmanager
def environ(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Set `changes` in os.environ (None unsets), and put back what was there afterwards."""
    saved = {k: os.environ.get(k) for k in changes}
    try:
        _set_environ(changes)
        yield
    finally:
        _set_environ(saved)


def _set_environ(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
