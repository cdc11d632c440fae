"""Chat Completions request bodies (:func:`chat_body`), adapted to what each model accepts.

Newer OpenAI models refuse ``max_tokens`` (they want ``max_completion_tokens``) or a
non-default ``temperature``; some servers refuse ``stream_options``. When a 400 names the
offending parameter in its structured ``param`` field, the request is retried once in the
accepted form and the adaptation is remembered for that (host, model).
"""

from __future__ import annotations

from typing import Any

from .errors import error_field

RENAME_MAX_TOKENS = "max_completion_tokens"
DROP_TEMPERATURE = "drop_temperature"
DROP_TOP_P = "drop_top_p"
NO_STREAM_OPTIONS = "no_stream_options"

EXPLANATIONS = {
    RENAME_MAX_TOKENS: "does not accept max_tokens; sent max_completion_tokens instead",
    DROP_TEMPERATURE: "accepts only its default temperature; sent none",
    DROP_TOP_P: "accepts only its default top_p; sent none",
    NO_STREAM_OPTIONS: "does not accept stream_options; usage may not be reported",
}


def chat_body(
    *,
    model: str,
    messages: list[dict[str, str]],
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    n: int,
    stream: bool,
    adaptations: set[str],
) -> dict[str, Any]:
    """The Chat Completions body: only parameters the user set, in the accepted form."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if temperature is not None and DROP_TEMPERATURE not in adaptations:
        body["temperature"] = temperature
    if top_p is not None and DROP_TOP_P not in adaptations:
        body["top_p"] = top_p
    if max_tokens is not None:
        key = "max_completion_tokens" if RENAME_MAX_TOKENS in adaptations else "max_tokens"
        body[key] = max_tokens
    if n != 1:
        body["n"] = n
    if stream:
        body["stream"] = True
        if NO_STREAM_OPTIONS not in adaptations:
            body["stream_options"] = {"include_usage": True}
    return body


def adaptation_for(exc: BaseException, body: dict[str, Any]) -> str | None:
    """The adaptation a 400 asks for, if its ``param`` names one we can change."""
    import openai

    if not isinstance(exc, openai.BadRequestError):
        return None
    param = error_field(exc, "param")
    if param == "max_tokens" and "max_tokens" in body:
        return RENAME_MAX_TOKENS
    if param == "temperature" and "temperature" in body:
        return DROP_TEMPERATURE
    if param == "top_p" and "top_p" in body:
        return DROP_TOP_P
    if param in ("stream_options", "stream_options.include_usage") and "stream_options" in body:
        return NO_STREAM_OPTIONS
    return None
