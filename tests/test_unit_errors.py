"""errors.py: redaction and the one-line explanations, on real SDK exceptions."""

from __future__ import annotations

import pytest

from gptmagic.errors import error_field, explain, redact, server_message
from tests.sdk_errors import connection_error, status_error, timeout_error

KEY = "sk-unit-ABCDEF123456"


def explained(exc, attempts: int = 1, secrets=(KEY,)) -> str:
    if attempts > 1:
        exc.gptmagic_attempts = attempts
    return explain(exc, host="h.example:8", model="gpt-x", timeout=12.0, secrets=secrets)


def test_redact_masks_every_occurrence_of_every_secret():
    text = f"key {KEY} and again {KEY}; org org-SECRET"
    assert redact(text, [KEY, "org-SECRET"]) == "key *** and again ***; org ***"


def test_redact_skips_empty_and_very_short_secrets():
    assert redact("a abc b", [None, "", "abc"]) == "a abc b"
    assert redact("a abcd b", ["abcd"]) == "a *** b"


def test_redact_masks_a_keys_beginning_from_its_first_twelve_characters():
    """A key cut short (a dropped stream, Ctrl-C, an ellipsis) shows at most 11 characters."""
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 3  # 68 characters
    assert redact(f"it is {key[:11]}", [key]) == f"it is {key[:11]}"
    assert redact(f"it is {key[:12]}", [key]) == "it is ***"
    assert redact(f"it is {key[:40]}… and {key[:30]}x", [key]) == "it is ***… and ***x"
    assert redact(f"({key}{key[:12]})", [key]) == "(******)"  # whole, then a beginning


def test_redact_masks_a_short_secret_only_whole():
    """A password under 24 characters often starts with a word: that word stays readable."""
    assert redact("the proxy2024 proxy", ["proxy2024"]) == "the *** proxy"
    assert redact("proxy2024-secret-value1 or proxy2024-secret", ["proxy2024-secret-value1"]) == (
        "*** or proxy2024-secret"
    )
    long = "proxy2024-secret-value12"  # 24: a key's rule
    assert redact(f"{long[:12]} {long[:11]}", [long]) == f"*** {long[:11]}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "too long", "code": None}}, "too long"),
        ({"error": "plain error"}, "plain error"),
        ({"detail": "vLLM detail"}, "vLLM detail"),
        ("  text body  ", "text body"),
    ],
)
def test_server_message_reads_openai_vllm_and_plain_bodies(body, message):
    assert server_message(status_error(400, body=body)) == message


def test_error_field_reads_structured_fields_only():
    exc = status_error(400, body={"error": {"param": "max_tokens", "code": None, "type": "x"}})
    assert error_field(exc, "param") == "max_tokens"
    assert error_field(exc, "code") is None
    assert error_field(status_error(400, body="param max_tokens"), "param") is None


def test_timeout_names_the_host_the_timeout_and_a_larger_one():
    line = explained(timeout_error())
    assert line.startswith("No answer from h.example:8 within 12 s (timeout).")
    assert "%config GPTMagic.timeout = 60" in line and "attempts" not in line
    assert "within 12 s after 3 attempts" in explained(timeout_error(), attempts=3)


def test_a_timeout_suggestion_doubles_a_long_timeout():
    line = explain(timeout_error(), host="h", model="m", timeout=45, secrets=[])
    assert "GPTMagic.timeout = 90" in line


def test_connection_failure_names_the_host_and_the_attempts():
    line = explained(connection_error(), attempts=2)
    assert line.startswith("Could not reach h.example:8 after 2 attempts.")


@pytest.mark.parametrize(
    ("status", "start"),
    [
        (401, "h.example:8 rejected the API key (401)."),
        (403, "h.example:8 refused access (403): denied"),
        (404, "Model 'gpt-x' was not found on h.example:8 (404)."),
        (429, "Rate limited by h.example:8 (429)."),
        (500, "h.example:8 failed with 500: denied"),
        (422, "h.example:8 refused the request (422): denied"),
    ],
)
def test_each_status_gets_its_own_line(status, start):
    code = "model_not_found" if status == 404 else None
    exc = status_error(status, body={"error": {"message": "denied", "code": code}})
    assert explained(exc).startswith(start)


def test_retried_statuses_say_how_many_attempts():
    assert "(429) after 4 attempts." in explained(status_error(429), attempts=4)
    assert "failed with 503 after 2 attempts:" in explained(status_error(503), attempts=2)


def test_an_exhausted_quota_says_billing_not_rate_limit():
    exc = status_error(429, body={"error": {"message": "q", "code": "insufficient_quota"}})
    assert (
        explained(exc)
        == "Your quota on h.example:8 is used up (429 insufficient_quota): check billing."
    )


def test_a_key_echoed_in_an_error_is_masked_everywhere_in_the_line():
    exc = status_error(400, body={"error": {"message": f"bad {KEY}, really {KEY}"}})
    line = explained(exc)
    assert KEY not in line and line.endswith("(400): bad ***, really ***")


def test_an_exception_that_is_not_an_api_error_is_named():
    assert explained(ValueError("odd")) == "The request failed: ValueError: odd"
