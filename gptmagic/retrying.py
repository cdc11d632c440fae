"""Retries with back-off for the failures where trying again helps.

The SDK's own retries are switched off (``max_retries=0``) so that gptmagic can tell the user
while it waits ("rate limited, retrying in 4 s") and count the attempts it reports.
``Retry-After`` (seconds or an HTTP date) and ``retry-after-ms`` are honoured.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import error_field

T = TypeVar("T")

RETRY_STATUSES = {408, 409, 429}  # and 5xx, but for these two:
NEVER_RETRY = {501, 505}  # Not Implemented, HTTP Version Not Supported: the same again
MAX_WAIT = 60.0  # seconds: the longest wait, whatever Retry-After asks for


def is_retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts, 408/409/429 and 5xx but 501/505, much as the SDK's own
    retries decide; an explicit ``x-should-retry`` header wins, and a used-up quota is never
    retried."""
    import openai

    if isinstance(exc, openai.APIConnectionError):
        return True
    if not isinstance(exc, openai.APIStatusError):
        return False
    if error_field(exc, "code") == "insufficient_quota":
        return False
    should = exc.response.headers.get("x-should-retry", "").strip().lower()
    if should in ("true", "false"):
        return should == "true"
    status = exc.status_code
    return status in RETRY_STATUSES or (status >= 500 and status not in NEVER_RETRY)


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """The wait the server asked for, in seconds, or None when it asked for none we can use.

    ``retry-after-ms`` wins over ``Retry-After`` (seconds or an HTTP date; a date in the past
    means now). A negative, NaN, infinite or unreadable value is ignored, so the caller falls
    back to its own back-off: a hostile header must never crash the cell or stall it.
    """
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    if (seconds := _seconds(headers.get("retry-after-ms"))) is not None:
        return seconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := _seconds(value)) is not None:
        return seconds
    try:
        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if date.tzinfo is None:  # HTTP dates are GMT
        date = date.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, date.timestamp() - (time.time() if now is None else now))


def _seconds(value: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def backoff(attempt: int, exc: BaseException) -> float:
    """Seconds to wait before attempt ``attempt + 1``: what the server asked for, capped at
    ``MAX_WAIT``, else exponential back-off with jitter (0.5 s, 1 s, 2 s… up to 8 s, ±25 %)."""
    asked = retry_after(exc)
    if asked is not None:
        return min(asked, MAX_WAIT)
    return min(0.5 * 2.0 ** min(attempt, 16), 8.0) * (0.75 + random.random() / 2)


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
