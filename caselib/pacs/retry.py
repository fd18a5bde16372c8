"""Retries with exponential backoff for network calls that may fail for a moment.

Only transient failures are retried (:class:`~caselib.pacs.errors.PacsConnectionError`:
refused, reset, timed out, HTTP 5xx/429); a wrong password, an unknown study or a
rejected association fails at once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from caselib.pacs.errors import PacsConnectionError

__all__ = ["RetryPolicy", "call_with_retries"]

T = TypeVar("T")
log = logging.getLogger("caselib.pacs")


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try again and how long to wait: ``backoff * 2**(attempt-1)``, capped.

    Examples
    --------
    >>> [RetryPolicy(attempts=4, backoff=0.5, max_wait=1.5).wait(i) for i in (1, 2, 3)]
    [0.5, 1.0, 1.5]
    """

    attempts: int = 3
    backoff: float = 0.5
    max_wait: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_wait < 0:
            raise ValueError(f"retries need attempts >= 1 and non-negative waits, found {self}")

    def wait(self, attempt: int) -> float:
        return min(self.backoff * 2 ** (attempt - 1), self.max_wait)


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn()``; on :class:`PacsConnectionError` wait and try again, up to ``policy.attempts`` times.

    The last error is raised with the number of attempts added to its message.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except PacsConnectionError as exc:
            if attempt == policy.attempts:
                raise PacsConnectionError(f"{exc} (gave up after {attempt} attempt(s))") from exc
            wait = policy.wait(attempt)
            log.warning("%s failed (%s); retrying in %.1f s (attempt %d of %d)", what, exc, wait,
                        attempt + 1, policy.attempts)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
