"""retrying.py without timers: which failures are retried, how long each wait is, how often.

Waits are asserted exactly: ``call_with_retries`` gets a recording ``sleep``, and the random
part of the back-off is pinned by replacing ``random.random``.
"""

from __future__ import annotations

import email.utils

import pytest

from gptmagic import retrying
from gptmagic.retrying import MAX_WAIT, backoff, call_with_retries, is_retryable, retry_after
from tests.sdk_errors import connection_error, status_error, timeout_error

NOW = 1_700_000_000.0


@pytest.fixture
def jitter(monkeypatch):
    """Pin ``random.random()`` (the back-off's jitter) to a chosen value."""

    def pin(value: float) -> None:
        monkeypatch.setattr(retrying.random, "random", lambda: value)

    pin(0.5)  # the middle: a factor of exactly 1
    return pin


def failing(*errors: BaseException, result: str = "answer"):
    """A call that raises ``errors`` in turn, then returns ``result``; counts its calls."""
    pending = list(errors)

    def call() -> str:
        call.count += 1
        if pending:
            raise pending.pop(0)
        return result

    call.count = 0
    return call


def run(call, max_retries: int):
    sleeps: list[float] = []
    notes: list[str] = []
    try:
        result = call_with_retries(
            call, max_retries=max_retries, on_retry=notes.append, host="h:1", sleep=sleeps.append
        )
    except Exception as exc:
        result = exc
    return result, sleeps, notes


# -- what is retried --------------------------------------------------------------------------
@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retryable(status):
    assert is_retryable(status_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
def test_statuses_that_will_not_change_are_not_retryable(status):
    assert not is_retryable(status_error(status))


def test_an_exhausted_quota_is_not_retryable():
    body = {"error": {"message": "quota", "code": "insufficient_quota"}}
    assert not is_retryable(status_error(429, body=body))
    assert is_retryable(status_error(429, body={"error": {"code": "rate_limit_exceeded"}}))


def test_connection_failures_and_timeouts_are_retryable():
    assert is_retryable(connection_error()) and is_retryable(timeout_error())


def test_other_exceptions_are_not_retryable():
    assert not is_retryable(ValueError("bad json"))


# -- how long the server asked to wait --------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),  # the precise one wins
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_and_milliseconds(headers, seconds):
    assert retry_after(status_error(429, headers=headers)) == seconds


def test_retry_after_reads_an_http_date(monkeypatch):
    monkeypatch.setattr(retrying.time, "time", lambda: NOW)
    later = email.utils.formatdate(NOW + 30, usegmt=True)
    assert retry_after(status_error(503, headers={"retry-after": later})) == 30.0
    earlier = email.utils.formatdate(NOW - 30, usegmt=True)
    assert retry_after(status_error(503, headers={"retry-after": earlier})) == 0.0


def test_an_error_without_a_response_asked_for_nothing():
    assert retry_after(connection_error()) is None


# -- the wait before each retry ---------------------------------------------------------------
@pytest.mark.parametrize("value", [0.0, 0.5, 0.999])
def test_a_servers_retry_after_is_the_wait_exactly_whatever_the_jitter(jitter, value):
    jitter(value)
    assert backoff(0, status_error(429, headers={"retry-after": "7"})) == 7.0
    assert backoff(3, status_error(429, headers={"retry-after-ms": "1500"})) == 1.5


def test_a_servers_wait_is_capped_at_sixty_seconds(jitter):
    assert MAX_WAIT == 60.0
    assert backoff(0, status_error(429, headers={"retry-after": "60"})) == 60.0
    assert backoff(0, status_error(429, headers={"retry-after": "61"})) == 60.0
    assert backoff(0, status_error(429, headers={"retry-after": "3600"})) == 60.0
    assert backoff(0, status_error(429, headers={"retry-after-ms": "90000"})) == 60.0


@pytest.mark.parametrize(
    ("attempt", "seconds"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]
)
def test_back_off_doubles_from_half_a_second_up_to_eight(jitter, attempt, seconds):
    assert backoff(attempt, status_error(503)) == seconds


@pytest.mark.parametrize(("value", "factor"), [(0.0, 0.75), (0.5, 1.0), (1.0, 1.25)])
def test_back_off_jitter_is_plus_or_minus_a_quarter(jitter, value, factor):
    jitter(value)
    assert backoff(2, connection_error()) == 2.0 * factor
    assert backoff(6, timeout_error()) == 8.0 * factor


# -- the loop ---------------------------------------------------------------------------------
def test_each_retry_waits_what_the_server_asked_and_says_so():
    call = failing(
        status_error(429, headers={"retry-after": "3"}),
        status_error(503, headers={"retry-after-ms": "1500"}),
    )
    result, sleeps, notes = run(call, max_retries=2)
    assert result == "answer" and call.count == 3
    assert sleeps == [3.0, 1.5]
    assert notes == [
        "h:1 answered 429; retrying in 3 s (retry 1 of 2)…",
        "h:1 answered 503; retrying in 2 s (retry 2 of 2)…",
    ]


def test_connection_failures_and_timeouts_are_retried_with_back_off(jitter):
    call = failing(connection_error(), timeout_error(), connection_error())
    result, sleeps, notes = run(call, max_retries=3)
    assert result == "answer" and call.count == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert notes[0].startswith("h:1 could not be reached; retrying in 0 s (retry 1 of 3)")
    assert notes[1].startswith("h:1 timed out; retrying in 1 s (retry 2 of 3)")


def test_the_last_error_is_raised_with_the_number_of_attempts():
    errors = [status_error(500, headers={"retry-after": "0"}) for _ in range(3)]
    call = failing(*errors)
    result, sleeps, _ = run(call, max_retries=2)
    assert result is errors[2] and result.gptmagic_attempts == 3
    assert call.count == 3 and sleeps == [0.0, 0.0]


def test_max_retries_zero_makes_one_attempt():
    error = status_error(503, headers={"retry-after": "0"})
    call = failing(error)
    result, sleeps, notes = run(call, max_retries=0)
    assert result is error and error.gptmagic_attempts == 1
    assert call.count == 1 and sleeps == [] and notes == []


def test_a_failure_that_retrying_cannot_fix_is_raised_at_once():
    error = status_error(400)
    call = failing(error)
    result, sleeps, _ = run(call, max_retries=5)
    assert result is error and error.gptmagic_attempts == 1 and call.count == 1 and sleeps == []
