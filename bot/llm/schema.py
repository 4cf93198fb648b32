"""What the model must answer: a title and a list of file edits, each with a rationale.

The same pydantic model is the tool the model is forced to call (its JSON schema
goes into `toolConfig`) and the parser of the answer, so a malformed answer is a
validation error with a readable message, never a half-applied change.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TOOL_NAME = "propose_change"


class YamlOp(BaseModel):
    """A YAML-aware edit, applied with ruamel.yaml so comments and !Ref/!Sub tags survive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["set", "delete", "append", "add_resource"] = Field(
        description=(
            "set: put `value` at `key_path` (creating mappings on the way); "
            "delete: remove the key at `key_path`; append: add `value` to the list at "
            "`key_path`; add_resource: add `value` as Resources.<key_path[0]> of a "
            "CloudFormation template (refused if it exists)."
        )
    )
    key_path: list[str | int] = Field(
        min_length=1, description='Keys from the document root, e.g. ["parameters", "MaxSize"].'
    )
    value: Any = Field(
        default=None,
        description='JSON value; intrinsics in long form, e.g. {"Ref": "Environment"}.',
    )


class FileEdit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="Repository-relative path with forward slashes.")
    rationale: str = Field(min_length=1, max_length=2000, description="Why this edit.")
    content: str | None = Field(
        default=None, description="The complete new file text (for new files or rewrites)."
    )
    yaml_ops: list[YamlOp] = Field(
        default_factory=list, description="YAML-aware edits of an existing file."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> FileEdit:
        if (self.content is None) == (not self.yaml_ops):
            raise ValueError("give exactly one of `content` or `yaml_ops`")
        return self


class ChangeProposal(BaseModel):
    """Propose the file edits that implement the request."""

    model_config = ConfigDict(extra="forbid", frozen=True, title=TOOL_NAME)

    title: str = Field(min_length=3, max_length=120, description="Pull request title.")
    summary: str = Field(default="", max_length=4000, description="What the change does.")
    edits: list[FileEdit] = Field(min_length=1, max_length=40)


class MalformedAnswerError(ValueError):
    """The model's answer does not fit the schema; the message goes back to it."""


def tool_spec() -> dict[str, Any]:
    """The tool definition, in the shape `bind_tools` accepts."""
    schema = ChangeProposal.model_json_schema()
    schema.pop("title", None)
    return {
        "name": TOOL_NAME,
        "description": ChangeProposal.__doc__ or TOOL_NAME,
        "parameters": schema,
    }


def parse_answer(tool_calls: list[dict[str, Any]]) -> ChangeProposal:
    """The first call to our tool, validated; anything else is MalformedAnswerError."""
    calls = [c for c in tool_calls if c.get("name") == TOOL_NAME]
    if not calls:
        names = ", ".join(str(c.get("name")) for c in tool_calls) or "none"
        raise MalformedAnswerError(f"the answer did not call {TOOL_NAME} (tool calls: {names})")
    args = calls[0].get("args")
    if not isinstance(args, dict):
        raise MalformedAnswerError(f"{TOOL_NAME} arguments are not a JSON object")
    try:
        return ChangeProposal.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise MalformedAnswerError(f"{TOOL_NAME} arguments are invalid: {problems}") from None
