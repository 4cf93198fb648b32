"""What is left to do after `infra-bot init`, with this repository's names filled in. Pure."""

from __future__ import annotations

import json

from bot.init.scaffold import PLACEHOLDER, Adoption, account_for

OIDC = "token.actions.githubusercontent.com"


def _subject(repo: str, context: str, workflow: str, ref: str) -> str:
    return f"repo:{repo}:{context}:job_workflow_ref:{repo}/.github/workflows/{workflow}@{ref}"


def trust_policy(account: str, subjects: list[str]) -> str:
    condition: dict[str, object] = {"StringEquals": {f"{OIDC}:aud": "sts.amazonaws.com"}}
    if any("*" in s for s in subjects):
        condition["StringLike"] = {f"{OIDC}:sub": subjects}
    else:
        condition["StringEquals"] = {f"{OIDC}:aud": "sts.amazonaws.com", f"{OIDC}:sub": subjects}
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{OIDC}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }],
    }  # fmt: skip
    return json.dumps(policy, indent=2)


def roles(a: Adoption) -> list[tuple[str, str, str, list[str]]]:
    """(role, where its ARN goes, account, subjects)."""
    repo, main = a.owner_repo, "refs/heads/main"
    hub = account_for(0)
    out = [
        ("plan (hub)", "repository variable INFRA_BOT_PLAN_ROLE_ARN", hub, [
            _subject(repo, "pull_request", "infra-bot-pr.yml", "refs/pull/*/merge"),
            _subject(repo, "environment:infra-bot", "infra-bot-deploy.yml", main),
        ]),
        ("command (hub)", "repository variable INFRA_BOT_COMMAND_ROLE_ARN", hub,
         [_subject(repo, "environment:infra-bot", "infra-bot-command.yml", main)]),
        ("drift (hub)", "repository variable INFRA_BOT_DRIFT_ROLE_ARN", hub,
         [_subject(repo, "environment:infra-bot", "infra-bot-drift.yml", main)]),
    ]  # fmt: skip
    for index, env in enumerate(a.envs):
        where = f"variable INFRA_BOT_DEPLOY_ROLE_ARN of environment {env}"
        subject = _subject(repo, f"environment:{env}", "infra-bot-deploy.yml", main)
        out.append((f"deploy {env}", where, account_for(index), [subject]))
    return out


def checklist(a: Adoption, written: list[str], kept: list[str]) -> str:
    lines = ["infra-bot init: what is left to do", ""]
    lines.append(f"Files written: {len(written)}; already there (kept, --force rewrites): "
                 f"{len(kept)}")  # fmt: skip
    lines += [f"  + {p}" for p in written] + [f"  = {p}" for p in kept]
    lines += ["", f"1. Replace every {PLACEHOLDER} in environments/*.yaml (accounts, roles)."]
    required = [(t, p) for t in a.templates for p in t.required]
    if required:
        lines.append("2. Set the REQUIRED parameters (commented out in each environment's file):")
        lines += [f"     {t.stack}: {p.name} ({p.type})  in environments/<env>/{t.stack}.yaml"
                  for t, p in required]  # fmt: skip
    else:
        lines.append("2. Parameters: every template parameter has a default; review them.")
    lines += [
        "3. GitHub environments (Settings > Environments), each limited to the branch main:",
        "     infra-bot (no reviewers; holds the secret INFRA_BOT_APP_PRIVATE_KEY if you use",
        "     a GitHub App), " + ", ".join(a.envs) + f" (required reviewers on {a.envs[-1]}).",
        "4. Branch protection (a ruleset on main): require pull requests, the status",
        "     infra-bot/validate, and code-owner review of .github/, environments/*.yaml,",
        "     guard/ and .github/infra-bot.yml.",
        "5. OIDC subjects that name the workflow file, once per repository:",
        f"     gh api -X PUT repos/{a.owner_repo}/actions/oidc/customization/sub \\",
        "       -f use_default=false -f 'include_claim_keys[]=repo' \\",
        "       -f 'include_claim_keys[]=context' -f 'include_claim_keys[]=job_workflow_ref'",
        "6. IAM roles and their trust policies (the OIDC provider must exist in each account):",
    ]
    for role, where, account, subjects in roles(a):
        lines += ["", f"   {role}: ARN into {where}", ""]
        lines += ["     " + x for x in trust_policy(account, subjects).splitlines()]
    lines += [
        "",
        "7. Try it locally: `infra-bot validate`, then `infra-bot local-aws` in another",
        "   terminal and `infra-bot plan --env " + a.envs[0] + "` with what it prints.",
        f"8. Pin the action in .github/workflows/infra-bot-*.yml ({a.action}) to a commit SHA.",
    ]
    return "\n".join(lines) + "\n"
