"""Token counts and what the calls cost.

Tokens are estimated as characters / 4 (Anthropic's rule of thumb for English
and code); no tokenizer for Claude ships offline, and the estimate only sizes
the prompt budget. Billing uses the counts Bedrock returns in `usage`.
"""

from __future__ import annotations

from dataclasses import dataclass

CHARS_PER_TOKEN = 4

# USD per 1,000 tokens (input, output), Bedrock on-demand list prices.
# Matched by substring of the model id, most specific first.
PRICES_PER_1K: tuple[tuple[str, float, float], ...] = (
    ("claude-opus-4-5", 0.005, 0.025),
    ("claude-opus-4", 0.015, 0.075),
    ("claude-3-opus", 0.015, 0.075),
    ("claude-sonnet-4", 0.003, 0.015),
    ("claude-3-7-sonnet", 0.003, 0.015),
    ("claude-3-5-sonnet", 0.003, 0.015),
    ("claude-haiku-4-5", 0.001, 0.005),
    ("claude-3-5-haiku", 0.0008, 0.004),
    ("claude-3-haiku", 0.00025, 0.00125),
)


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.calls + other.calls,
        )


def price_for(model_id: str) -> tuple[float, float] | None:
    model = model_id.lower()
    for needle, inp, out in PRICES_PER_1K:
        if needle in model:
            return inp, out
    return None


def cost_usd(model_id: str, usage: Usage) -> float | None:
    """None when the model is not in the table (the PR says "unknown", not $0)."""
    price = price_for(model_id)
    if price is None:
        return None
    return usage.input_tokens / 1000 * price[0] + usage.output_tokens / 1000 * price[1]
