"""The retry policy, pinned without timers: which failures are retried, how long each wait is.

``retry_after`` and ``backoff`` are pure; ``call_with_retries`` takes a ``sleep`` argument, so a
recorder stands in for the clock. The errors are the ``openai`` SDK's own classes around real
HTTP responses of the SDK's HTTP library.
"""

from __future__ import annotations

import email.utils
import math

import openai
import pytest

from gptmagic import retrying
from gptmagic.retrying import MAX_WAIT, backoff, call_with_retries, is_retryable, retry_after
from gptmagic.transport import http_library

NOW = 1_700_000_000.0
URL = "http://127.0.0.1:9/v1/chat/completions"


def request():
    return http_library().Request("POST", URL)


def status_error(status: int, headers: dict[str, str] | None = None, body=None, cls=None):
    response = http_library().Response(status, headers=headers or {}, request=request())
    return (cls or openai.APIStatusError)(f"HTTP {status}", response=response, body=body)


def asked(**headers: str) -> float | None:
    return retry_after(status_error(429, {k.replace("_", "-"): v for k, v in headers.items()}), NOW)


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


# -- retry_after: what the server asked for ---------------------------------------------------
@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("7", 7.0), ("1.5", 1.5)])
def test_retry_after_in_seconds_is_read_as_seconds(value, seconds):
    assert asked(retry_after=value) == seconds


@pytest.mark.parametrize("value", ["-1", "nan", "NaN", "inf", "-inf", "1e999", "garbage", "", "5s"])
def test_an_unusable_retry_after_is_ignored(value):
    assert asked(retry_after=value) is None


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "garbage", ""])
def test_an_unusable_retry_after_ms_is_ignored(value):
    assert asked(retry_after_ms=value) is None


def test_retry_after_ms_is_read_as_milliseconds():
    assert asked(retry_after_ms="250") == 0.25


def test_retry_after_ms_wins_over_retry_after():
    assert asked(retry_after_ms="250", retry_after="30") == 0.25


def test_an_unusable_retry_after_ms_leaves_retry_after_in_force():
    assert asked(retry_after_ms="nan", retry_after="3") == 3.0


def test_an_http_date_is_the_time_until_then():
    assert asked(retry_after=http_date(NOW + 30)) == pytest.approx(30.0)


def test_an_http_date_in_the_past_means_now():
    assert asked(retry_after=http_date(NOW - 3600)) == 0.0


def test_an_http_date_without_a_zone_is_read_as_gmt():
    date = http_date(NOW + 20).replace("GMT", "-0000")
    assert asked(retry_after=date) == pytest.approx(20.0)


def test_no_header_means_no_request():
    assert asked() is None
    assert retry_after(openai.APIConnectionError(request=request())) is None


# -- backoff: the wait before the next attempt ------------------------------------------------
def test_the_servers_wait_is_used_as_asked():
    assert backoff(0, status_error(429, {"retry-after": "7"})) == 7.0


def test_the_servers_wait_is_capped_at_max_wait():
    assert MAX_WAIT == 60.0
    assert backoff(0, status_error(429, {"retry-after": "3600"})) == MAX_WAIT
    assert backoff(0, status_error(429, {"retry-after": http_date(4_000_000_000)})) == MAX_WAIT


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "garbage"])
def test_an_unusable_wait_falls_back_to_the_exponential_backoff(value):
    wait = backoff(0, status_error(429, {"retry-after": value}))
    assert math.isfinite(wait) and 0.375 <= wait <= 0.625


@pytest.mark.parametrize(("attempt", "base"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)])
def test_the_backoff_doubles_with_jitter_of_a_quarter(attempt, base):
    waits = {backoff(attempt, status_error(503)) for _ in range(50)}
    assert all(0.75 * base <= wait <= 1.25 * base for wait in waits)
    assert len(waits) > 1  # jittered


@pytest.mark.parametrize("attempt", [5, 50, 5000])
def test_the_backoff_stops_growing_at_eight_seconds(attempt):
    assert 6.0 <= backoff(attempt, status_error(503)) <= 10.0


@pytest.fixture
def jitter(monkeypatch):
    """Pin ``random.random()`` (the back-off's jitter) to a chosen value; 0.5 is a factor of 1."""

    def pin(value: float) -> None:
        monkeypatch.setattr(retrying.random, "random", lambda: value)

    pin(0.5)
    return pin


@pytest.mark.parametrize(
    ("attempt", "seconds"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]
)
def test_the_backoff_is_exactly_half_a_second_doubled_up_to_eight(jitter, attempt, seconds):
    assert backoff(attempt, status_error(503)) == seconds


@pytest.mark.parametrize(("value", "factor"), [(0.0, 0.75), (0.5, 1.0), (1.0, 1.25)])
def test_the_jitter_is_exactly_plus_or_minus_a_quarter(jitter, value, factor):
    jitter(value)
    assert backoff(2, openai.APIConnectionError(request=request())) == 2.0 * factor
    assert backoff(6, openai.APITimeoutError(request=request())) == 8.0 * factor


@pytest.mark.parametrize("value", [0.0, 0.999])
def test_the_servers_wait_is_not_jittered(jitter, value):
    jitter(value)
    assert backoff(3, status_error(429, {"retry-after-ms": "1500"})) == 1.5


@pytest.mark.parametrize(("value", "wait"), [("59.5", 59.5), ("60", 60.0), ("61", 60.0)])
def test_the_cap_starts_at_exactly_sixty_seconds(value, wait):
    assert backoff(0, status_error(429, {"retry-after": value})) == wait


# -- is_retryable: what is worth another try --------------------------------------------------
@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 520, 529])
def test_these_statuses_are_retried(status):
    assert is_retryable(status_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 501, 505])
def test_these_statuses_are_not_retried(status):
    assert not is_retryable(status_error(status))


def test_a_used_up_quota_is_not_retried():
    body = {"error": {"message": "quota", "code": "insufficient_quota"}}
    assert not is_retryable(status_error(429, body=body))


def test_the_servers_x_should_retry_header_wins():
    assert not is_retryable(status_error(503, {"x-should-retry": "false"}))
    assert is_retryable(status_error(400, {"x-should-retry": "true"}))


def test_connection_errors_and_timeouts_are_retried():
    assert is_retryable(openai.APIConnectionError(request=request()))
    assert is_retryable(openai.APITimeoutError(request=request()))


def test_other_errors_are_not_retried():
    assert not is_retryable(ValueError("a bug"))


# -- call_with_retries: attempts, waits and the line shown -----------------------------------
class Script:
    """A call that fails with the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: BaseException):
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run_script(script: Script, max_retries: int):
    waits: list[float] = []
    notes: list[str] = []
    try:
        result = call_with_retries(
            script, max_retries=max_retries, on_retry=notes.append, host="h", sleep=waits.append
        )
    except Exception as exc:
        return exc, waits, notes
    return result, waits, notes


def failures():
    return [
        ("answered 408", lambda: status_error(408)),
        ("answered 409", lambda: status_error(409)),
        ("answered 500", lambda: status_error(500)),
        ("answered 503", lambda: status_error(503)),
        ("could not be reached", lambda: openai.APIConnectionError(request=request())),
        ("timed out", lambda: openai.APITimeoutError(request=request())),
    ]


@pytest.mark.parametrize(("said", "make"), failures(), ids=[s for s, _ in failures()])
def test_a_retryable_failure_is_retried_exactly_max_retries_times(said, make):
    script = Script(*[make() for _ in range(10)])
    exc, waits, notes = run_script(script, max_retries=3)
    assert script.calls == 4 and exc.gptmagic_attempts == 4
    assert len(waits) == 3
    assert [note.split("(")[-1] for note in notes] == [f"retry {k} of 3)…" for k in (1, 2, 3)]
    assert all(note.startswith(f"h {said}; retrying in ") for note in notes)


def test_a_failure_that_clears_returns_the_answer():
    result, waits, notes = run_script(Script(status_error(503), status_error(503)), max_retries=2)
    assert result == "ok" and len(waits) == 2 and len(notes) == 2


def test_no_retries_means_one_attempt():
    exc, waits, notes = run_script(Script(status_error(503)), max_retries=0)
    assert exc.gptmagic_attempts == 1 and waits == [] and notes == []


def test_a_refusal_is_not_retried():
    exc, waits, _ = run_script(Script(status_error(401)), max_retries=5)
    assert exc.status_code == 401 and exc.gptmagic_attempts == 1 and waits == []


def test_a_used_up_quota_is_raised_at_once():
    quota = status_error(429, body={"error": {"code": "insufficient_quota"}})
    exc, waits, _ = run_script(Script(quota), max_retries=5)
    assert exc is quota and exc.gptmagic_attempts == 1 and waits == []


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "garbage"])
def test_an_unusable_retry_after_waits_the_backoff_and_shows_a_number(value):
    result, waits, notes = run_script(Script(status_error(429, {"retry-after": value})), 1)
    assert result == "ok"  # the second attempt answered
    assert len(waits) == 1 and 0.375 <= waits[0] <= 0.625
    assert notes == [f"h answered 429; retrying in {waits[0]:.0f} s (retry 1 of 1)…"]


def test_the_servers_wait_is_slept_and_shown():
    _, waits, notes = run_script(Script(status_error(429, {"retry-after-ms": "2500"})), 1)
    assert waits == [2.5]
    assert notes == ["h answered 429; retrying in 2 s (retry 1 of 1)…"]


def test_a_long_wait_is_capped_in_the_sleep_and_the_line():
    _, waits, notes = run_script(Script(status_error(503, {"retry-after": "86400"})), 1)
    assert waits == [60.0] and "retrying in 60 s" in notes[0]


def test_each_wait_is_what_that_answer_asked_for(jitter):
    script = Script(status_error(429, {"retry-after": "3"}), status_error(503))
    result, waits, notes = run_script(script, max_retries=2)
    assert result == "ok" and script.calls == 3
    assert waits == [3.0, 1.0]  # the server's wait, then the back-off of the second retry
    assert notes == [
        "h answered 429; retrying in 3 s (retry 1 of 2)…",
        "h answered 503; retrying in 1 s (retry 2 of 2)…",
    ]


def test_connection_failures_wait_the_backoff_of_each_retry(jitter):
    down = [openai.APIConnectionError(request=request()) for _ in range(3)]
    result, waits, _ = run_script(Script(*down), max_retries=3)
    assert result == "ok" and waits == [0.5, 1.0, 2.0]
