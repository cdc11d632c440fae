"""Retries with back-off for the failures where trying again helps.

The SDK's own retries are switched off (``max_retries=0``) so that gptmagic can tell the user
while it waits ("rate limited, retrying in 4 s") and count the attempts it reports.
``Retry-After`` (seconds or an HTTP date) and ``retry-after-ms`` are honoured.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import error_field

T = TypeVar("T")

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}
MAX_WAIT = 60.0


def is_retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        if error_field(exc, "code") == "insufficient_quota":
            return False
        return exc.status_code in RETRY_STATUSES
    return False


def retry_after(exc: BaseException) -> float | None:
    """The wait the server asked for, in seconds, if it asked."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def backoff(attempt: int, exc: BaseException) -> float:
    """Seconds to wait before attempt ``attempt + 1``."""
    asked = retry_after(exc)
    if asked is not None:
        return min(asked, MAX_WAIT)
    return min(0.5 * 2**attempt, 8.0) * (0.75 + random.random() / 2)


def what_happened(exc: BaseException, host: str) -> str:
    """A few words for the waiting line: "host answered 429", "host timed out"."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return f"{host} answered {exc.status_code}"
    if isinstance(exc, openai.APITimeoutError):
        return f"{host} timed out"
    return f"{host} could not be reached"


def call_with_retries(
    call: Callable[[], T],
    *,
    max_retries: int,
    on_retry: Callable[[str], None] = lambda note: None,
    host: str = "the server",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried where it helps; ``on_retry`` gets a line to show while waiting.

    The last error is re-raised carrying ``gptmagic_attempts``, so the message can count them.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            if attempt > max_retries or not is_retryable(exc):
                exc.gptmagic_attempts = attempt
                raise
            wait = backoff(attempt - 1, exc)
            happened = what_happened(exc, host)
            on_retry(f"{happened}; retrying in {wait:.0f} s (retry {attempt} of {max_retries})…")
            sleep(wait)
