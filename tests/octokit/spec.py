"""GitHub's REST API description and recorded responses, from the npm packages
pinned in tests/octokit/package-lock.json (`npm ci --prefix tests/octokit`).

`@octokit/openapi` ships the api.github.com description with every `$ref`
already resolved (`api.github.com.deref.json`); `@octokit/fixtures` ships
HTTP exchanges recorded against api.github.com. Nothing here skips: without
node_modules the tests that use it fail and say how to install it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

HERE = Path(__file__).parent
MODULES = HERE / "node_modules" / "@octokit"
DESCRIPTION = MODULES / "openapi" / "generated" / "api.github.com.deref.json"
SCENARIOS = MODULES / "fixtures" / "scenarios" / "api.github.com"
INSTALL = "npm ci --prefix tests/octokit (or `make test`, which runs it)"
# Path parameters that may contain slashes.
_GREEDY = {"path", "ref", "branch"}
# A schema is either the one GitHub documents for a status or, where it documents
# none (GitHub lists only some 403/404s), its "Basic Error".
BASIC_ERROR = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}, "documentation_url": {"type": "string"}},
}


def _need(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run {INSTALL}")
    return path


@functools.cache
def description() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_need(DESCRIPTION).read_text())
    return data


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # e.g. /repos/{owner}/{repo}/pulls/{pull_number}
    spec: dict[str, Any]

    def response_schema(self, status: int) -> dict[str, Any] | None:
        """The documented JSON schema for `status`, or None if GitHub documents none."""
        answer = self.spec["responses"].get(str(status))
        if answer is None:
            return None
        content = answer.get("content", {})
        for kind in ("application/json", "application/vnd.github.object"):
            if kind in content:
                schema: dict[str, Any] = content[kind]["schema"]
                return schema
        return {}

    def request_schema(self) -> dict[str, Any] | None:
        body = self.spec.get("requestBody")
        if body is None:
            return None
        schema: dict[str, Any] = body["content"]["application/json"]["schema"]
        return schema

    @property
    def statuses(self) -> set[int]:
        return {int(s) for s in self.spec["responses"] if s.isdigit()}


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str, int]]:
    out = []
    for template in description()["paths"]:
        literal = len(re.sub(r"\{[^}]+\}", "", template))

        def param(m: re.Match[str]) -> str:
            return ".+" if m[1] in _GREEDY else "[^/]+"

        pattern = re.sub(r"\\\{([^}]+)\\\}", param, re.escape(template))
        out.append((re.compile(pattern), template, literal))
    return out


def operation(method: str, path: str) -> Operation:
    """The documented operation a request path belongs to (the most literal match)."""
    found = [
        (literal, template)
        for pattern, template, literal in _templates()
        if pattern.fullmatch(path) and method.lower() in description()["paths"][template]
    ]
    if not found:
        raise LookupError(f"{method} {path} is not in GitHub's REST API description")
    template = max(found)[1]
    return Operation(method, template, description()["paths"][template][method.lower()])


def openapi_to_jsonschema(schema: Any, *, strict: bool, required: bool) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable` becomes a null alternative;
    `strict` refuses properties GitHub does not document (no invented fields);
    `required=False` drops `required` (the fake need not fill every field)."""
    if isinstance(schema, list):
        return [openapi_to_jsonschema(s, strict=strict, required=required) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = _merge_all_of(schema)
    out = {
        k: openapi_to_jsonschema(v, strict=strict, required=required)
        if k not in ("enum", "example", "examples", "default")
        else v
        for k, v in schema.items()
        if k not in ("nullable", "discriminator", "xml", "externalDocs")
        and not (k == "required" and not required)
    }
    if "properties" in out:
        # Property names are data, not schemas: keep them as they are.
        out["properties"] = {
            name: openapi_to_jsonschema(s, strict=strict, required=required)
            for name, s in schema["properties"].items()
        }
        if (
            strict
            and "additionalProperties" not in schema
            and not ({"allOf", "anyOf", "oneOf"} & schema.keys())
        ):
            out["additionalProperties"] = False
    if schema.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """`allOf` of object schemas as one schema, so "no undocumented field" sees
    the properties of every member (GitHub builds e.g. an issue from parts)."""
    members = schema.get("allOf")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        return schema
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(schema.get("properties", {}))
    needed: set[str] = set(schema.get("required", []))
    for member in map(_merge_all_of, members):
        properties.update(member.get("properties", {}))
        needed |= set(member.get("required", []))
        for key, value in member.items():
            if key not in ("properties", "required", "title", "description"):
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if needed:
        merged["required"] = sorted(needed)
    return merged


def problems(instance: Any, schema: dict[str, Any], *, strict: bool, required: bool) -> list[str]:
    """Every way `instance` breaks `schema` ("" if none), one line each."""
    converted = openapi_to_jsonschema(schema, strict=strict, required=required)
    validator = Draft202012Validator(converted)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message[:300]}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


@dataclass(frozen=True)
class Exchange:
    """One recorded request and GitHub's answer to it."""

    method: str
    path: str  # with its query, as recorded
    body: Any
    status: int
    response: Any
    headers: dict[str, str]


def scenario(name: str) -> list[Exchange]:
    data = json.loads(_need(SCENARIOS / name / "normalized-fixture.json").read_text())
    return [
        Exchange(
            x["method"].upper(),
            x["path"],
            x.get("body") or None,
            int(x["status"]),
            x.get("response"),
            {k.lower(): str(v) for k, v in (x.get("headers") or {}).items()},
        )
        for x in data
    ]
