"""Polling with an injectable clock, so tests run the real loops without sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], None] = field(default=time.sleep)
    monotonic: Callable[[], float] = field(default=time.monotonic)
    poll_seconds: float = 5.0


SAY_EVERY = 30.0


class WaitTimeoutError(TimeoutError):
    pass


def poll_until(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    clock: Clock,
    timeout: float,
    what: str,
    say: Callable[[str], None] | None = None,
    state: Callable[[T], str] | None = None,
) -> T:
    """Call `fetch` until `done(result)`; WaitTimeoutError after `timeout` seconds.

    With `say`, a long wait is not silent: every SAY_EVERY seconds it names what it
    waits for, the state it last saw (`state`) and how long it has waited."""
    start = clock.monotonic()
    deadline = start + timeout
    said = start
    while True:
        result = fetch()
        if done(result):
            return result
        now = clock.monotonic()
        if now >= deadline:
            raise WaitTimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        if say is not None and now - said >= SAY_EVERY:
            seen = f" (now {state(result)})" if state is not None else ""
            say(f"still waiting for {what}{seen}: {now - start:.0f} s of {timeout:.0f} s")
            said = now
        clock.sleep(clock.poll_seconds)
