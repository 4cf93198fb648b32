"""Prompt size per catalogue request: the selected context vs sending the whole repository.

For each request the prompt is what Bedrock would receive (system prompt + the
rendered request: repository map, the selected files, the request). The
baseline is the system prompt plus the full text of every file under stacks/,
environments/, helm-values/ and guard/. Tokens are estimated as characters / 4
(bot.llm.usage); the ratio does not depend on the estimate.

Run: python -m bench.bench_prompt [--root PATH] [--budget TOKENS]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.llm.context import build_context, whole_repository_tokens
from bot.llm.loop import request_prompt, system_prompt
from bot.llm.usage import estimate_tokens
from bot.repo.model import Repository

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = (
    "add an encrypted S3 bucket for ALB access logs",
    "add an SQS queue for order events",
    "allow tcp 8443 from 10.20.0.0/16 to the node security group",
    "add an IRSA role for service account payments/api",
    "scale the prd node group to 6 nodes",
    "bump the velero chart to 11.1.0",
    "set headlamp replicas to 2 in prd",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--budget", type=int, default=24000)
    args = parser.parse_args()
    repo = Repository(args.root.resolve())
    system = estimate_tokens(system_prompt(repo))
    whole = system + whole_repository_tokens(repo.root)
    print(
        f"Reference platform: {len(repo.stack_paths)} stacks, {len(repo.environments)} "
        f"environments, {len(repo.releases)} Helm releases; budget {args.budget:,} tokens.\n"
    )
    print("| request | files sent | map tokens | prompt tokens | whole repo | share |")
    print("|---|---:|---:|---:|---:|---:|")
    for request in REQUESTS:
        context = build_context(repo, request, args.budget)
        prompt = system + estimate_tokens(request_prompt(context, request))
        share = prompt / whole
        print(
            f"| {request} | {len(context.files)} | {estimate_tokens(context.repo_map):,} | "
            f"{prompt:,} | {whole:,} | {share:.0%} |"
        )


if __name__ == "__main__":
    main()
