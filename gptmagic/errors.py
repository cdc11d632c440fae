"""gptmagic's own error, and one-line explanations of the ``openai`` SDK's exceptions.

Every expected failure becomes a :class:`GPTMagicError`, a ``UsageError``: IPython prints it
as one line with no traceback and still marks the cell as failed, so "Run All", nbclient and
papermill stop there. Explanations dispatch on the SDK's exception classes and the error
body's structured fields, never on message wording, and every text shown passes
:func:`redact` so a key echoed by a server is never displayed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from IPython.core.error import UsageError


class GPTMagicError(UsageError):
    """An expected failure with a short message naming the cause and the fix."""


def one_line_errors(func: Callable) -> Callable:
    """Re-raise gptmagic's errors as a plain ``UsageError``.

    IPython prints the one-line form only for ``UsageError`` itself (``etype is UsageError``),
    not for subclasses, so the magics hand it exactly that type.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GPTMagicError as exc:
            raise UsageError(str(exc)) from None

    return wrapper


class InterruptedAnswer(GPTMagicError):
    """The user interrupted a stream; the partial answer was kept."""


# ``scheme://userinfo@``: greedy up to the last ``@`` before the path, as URL parsers read it.
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#'\"<>]+@")


def redact(text: str, secrets: Iterable[Any], *, urls: bool = True) -> str:
    """``text`` with every occurrence of every secret, in every form, replaced by ``***``.

    ``secrets`` are ``Secret`` objects or strings. A key reaches messages not only as typed:
    httpx shows it in a bytes repr (``b'Bearer sk-…\\n'``), proxies and servers echo it
    URL-encoded or JSON-escaped. With ``urls`` (messages), credentials in any URL
    (``user:password@`` of a base URL, a proxy, one quoted by a server) are masked too; prompts
    and answers pass ``urls=False``, since a connection string there is the user's content.
    """
    forms = sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    if forms:
        text = re.sub("|".join(map(re.escape, forms)), "***", text)
    return _USERINFO.sub(r"\1***@", text) if urls else text


def secret_forms(secret: Any) -> set[str]:
    """The ways ``secret`` can be written in a message; none for values too short to mask."""
    value = secret.reveal() if hasattr(secret, "reveal") else secret
    value = (value or "").strip()
    if len(value) < 4:
        return set()
    encoded = {quote(value, safe=""), quote(value), quote_plus(value)}
    encoded |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), e) for e in encoded}
    return {
        value,
        repr(value)[1:-1],
        repr(value.encode("utf-8", "backslashreplace"))[2:-1],
        json.dumps(value)[1:-1],
        *encoded,
    }


def server_message(exc: BaseException) -> str:
    """The human message a server put in its error body (OpenAI, vLLM or plain shapes)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("detail"), str):
            return body["detail"]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return getattr(exc, "message", "") or str(exc)


def error_field(exc: BaseException, name: str) -> str | None:
    """A structured field (``code``, ``param``, ``type``) of an OpenAI-style error body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get(name) is not None:
            return str(inner[name])
    return None


def context_too_long(exc: BaseException) -> bool:
    """The server refused because the prompt and history do not fit the model's context.

    OpenAI (and vLLM, LiteLLM in OpenAI form) say ``code: context_length_exceeded``;
    llama.cpp says ``type: exceed_context_size_error``.
    """
    return (
        error_field(exc, "code") == "context_length_exceeded"
        or error_field(exc, "type") == "exceed_context_size_error"
    )


def explain(
    exc: BaseException,
    *,
    host: str,
    model: str,
    timeout: float,
    secrets: Iterable[str],
    what: str = "request",
) -> str:
    """One line saying what went wrong and what to do about it, with ``secrets`` masked."""
    attempts = getattr(exc, "gptmagic_attempts", 1)  # set by retrying.call_with_retries
    return redact(_explain(exc, host, model, timeout, attempts, what), secrets)


def connection_cause(exc: BaseException) -> str:
    """The transport error under an SDK connection error, e.g. ``ConnectError: ...``."""
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause else ""


def _explain(
    exc: BaseException, host: str, model: str, timeout: float, attempts: int, what: str
) -> str:
    import openai

    retried = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, openai.APITimeoutError):
        return (
            f"No answer from {host} within {timeout:g} s{retried} (timeout). "
            f"Raise it with %config GPTMagic.timeout = {max(60, int(timeout * 2))}, or retry."
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = connection_cause(exc)
        detail = f": {cause}" if cause else ""
        return (
            f"Could not reach {host}{retried}{detail}. Check GPTMagic.base_url / "
            "OPENAI_BASE_URL, your network and the proxy (GPTMagic.proxy, HTTPS_PROXY)."
        )
    if context_too_long(exc):
        return (
            f"The prompt and the conversation history are too long for {model} at {host}: "
            f"{server_message(exc)} Re-running will not help; shorten them: %gpt reset (or "
            "--new) starts a fresh conversation, --no-history sends only this prompt, and a "
            "lower GPTMagic.history_max_tokens sends fewer old turns."
        )
    if not isinstance(exc, openai.APIStatusError):
        return f"The {what} failed: {type(exc).__name__}: {server_message(exc)}"
    status, message = exc.status_code, server_message(exc)
    if isinstance(exc, openai.AuthenticationError):
        return (
            f"{host} rejected the API key (401). Set a valid key in the OPENAI_API_KEY "
            "environment variable before starting the kernel (or run %gpt key to type one)."
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return (
            f"{host} refused access (403): {message} Check that OPENAI_API_KEY, "
            "OPENAI_ORG_ID and OPENAI_PROJECT_ID allow this model."
        )
    if isinstance(exc, openai.NotFoundError):
        return (
            f"Model {model!r} was not found on {host} (404). Run %gpt models to list the "
            "models it offers; if none are listed, check that base_url ends in /v1."
        )
    if isinstance(exc, openai.RateLimitError):
        if error_field(exc, "code") == "insufficient_quota":
            return f"Your quota on {host} is used up (429 insufficient_quota): check billing."
        return (
            f"Rate limited by {host} (429){retried}. Wait a minute and re-run the cell, "
            "or raise GPTMagic.max_retries."
        )
    if status >= 500:
        return (
            f"{host} failed with {status}{retried}: {message} "
            "The server is having trouble: try again later."
        )
    return f"{host} refused the {what} ({status}): {message}"
