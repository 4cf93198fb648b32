"""A sentence in, infrastructure edits out: context, Bedrock, blueprints, guardrails."""
