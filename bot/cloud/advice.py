"""What to do about a failed deploy: advice for the causes seen most, from the reasons
CloudFormation and the AWS APIs give. Pure and table-tested; one sentence per cause."""

from __future__ import annotations

import re

# (pattern over a failure reason, advice); the first match wins, so specific before general.
_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"No export named", re.I),
        "Missing export: the template imports a value no deployed stack exports. Deploy the "
        "exporting stack first (in a new environment `deploy --replan` plans this one again "
        "once it exists), or fix the export name.",
    ),
    (
        re.compile(
            r"not authorized to perform|AccessDenied|UnauthorizedOperation|"
            r"AuthorizationError",
            re.I,
        ),
        "Missing IAM permission: the deploy role may not make this call. Add the action the "
        "reason names to the environment's deploy role (its role_arn in {environment}).",
    ),
    (
        re.compile(
            r"BucketAlreadyExists|already taken|name is not available|"
            r"is not available for use",
            re.I,
        ),
        "Name taken: the name is in use elsewhere (S3 bucket names are global across all "
        "accounts). Choose another name, or drop the explicit name so CloudFormation makes one.",
    ),
    (
        re.compile(r"already exists", re.I),
        "Resource already exists: something outside this stack has this name. Delete it, "
        "import it into the stack, or drop the explicit name so CloudFormation makes one.",
    ),
    (
        re.compile(r"does not exist|NotFound", re.I),
        "A resource the template refers to does not exist in this account and region: "
        "check the ids in the stack's parameters ({deployment}).",
    ),
    (
        re.compile(r"Throttl|Rate exceeded|TooManyRequests", re.I),
        "AWS throttled the deploy: retry later, or spread the calls of other tools.",
    ),
)

_STATUS_ADVICE = {
    "ROLLBACK_COMPLETE": (
        "ROLLBACK_COMPLETE: the stack's first create failed and was rolled back; it cannot be "
        "updated. Fix the cause above; the next deploy deletes the empty stack and creates it "
        "again (PRD: only in the approved execute stage)."
    ),
    "UPDATE_ROLLBACK_FAILED": (
        "UPDATE_ROLLBACK_FAILED: fix what blocks the rollback, then run `infra-bot deploy` "
        "with --continue-rollback (and --skip-resource for each resource to leave as it is)."
    ),
}


def advice_for(
    reasons: list[str], status: str | None = None, env: str = "<env>", stack: str = "<stack>"
) -> tuple[str, ...]:
    """Advice for the failure reasons (first failure first) and the stack's final status;
    each piece once, naming the stack's own files."""
    out: list[str] = []
    files = {"environment": f"environments/{env}.yaml",
             "deployment": f"environments/{env}/{stack}.yaml"}  # fmt: skip
    for reason in reasons:
        for pattern, text in _CAUSES:
            if pattern.search(reason):
                if text.format(**files) not in out:
                    out.append(text.format(**files))
                break
    if status in _STATUS_ADVICE:
        out.append(_STATUS_ADVICE[status])
    return tuple(out)
