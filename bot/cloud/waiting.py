"""Polling with an injectable clock, so tests run the real loops without sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


Progress = Callable[[str, float], None]
"""(what is awaited, seconds so far): told on every poll; the receiver decides how often
to show it (a line every 30 s in Actions logs)."""


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], None] = field(default=time.sleep)
    monotonic: Callable[[], float] = field(default=time.monotonic)
    poll_seconds: float = 5.0
    progress: Progress | None = None

    def waiting(self, what: str, started: float) -> None:
        if self.progress is not None:
            self.progress(what, self.monotonic() - started)


class WaitTimeoutError(TimeoutError):
    pass


def poll_until(
    fetch: Callable[[], T], done: Callable[[T], bool], clock: Clock, timeout: float, what: str
) -> T:
    """Call `fetch` until `done(result)`; WaitTimeoutError after `timeout` seconds."""
    started = clock.monotonic()
    deadline = started + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if clock.monotonic() >= deadline:
            raise WaitTimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        clock.waiting(what, started)
        clock.sleep(clock.poll_seconds)
