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
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from IPython.core.error import UsageError


class GPTMagicError(UsageError):
    """An expected failure with a short message naming the cause and the fix."""


class KernelUsageError(UsageError):
    """A ``UsageError`` shown as a one-line ``error`` output in a Jupyter kernel.

    IPython shows a plain ``UsageError`` as a stderr line, so the kernel sends no ``error``
    message: papermill (which reports only error outputs) then says "Exception encountered"
    with nothing after it. This one goes through IPython's ``_render_traceback_`` hook
    instead, so the notebook holds an error output whose ename is ``UsageError``, evalue the
    message and traceback the one line, and every runner prints it.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"UsageError: {self}"]


KernelUsageError.__name__ = KernelUsageError.__qualname__ = "UsageError"  # the ename shown


def one_line_errors(func: Callable) -> Callable:
    """Re-raise usage errors (gptmagic's and bad options) in the form IPython shows as one line.

    In a terminal that is a plain ``UsageError`` (IPython prints the one-line form only for
    ``etype is UsageError``, not for subclasses); in a kernel it is :class:`KernelUsageError`.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UsageError as exc:
            shell = getattr(args[0], "shell", None) if args else None
            kind = KernelUsageError if getattr(shell, "kernel", None) else UsageError
            raise kind(str(exc)) from None

    return wrapper


class InterruptedAnswer(GPTMagicError):
    """The user interrupted a stream; the partial answer was kept."""


# ``scheme://userinfo@``: greedy up to the last ``@`` before the path, as URL parsers read it.
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#'\"<>]+@")
#: a URL's query parameter that carries a credential (a gateway's ``?key=``, ``?token=``, a
#: signed URL's ``sig=``): its value is masked like a URL's password
SECRET_PARAMETER = re.compile(r"key|token|secret|pass|pwd|sig|auth|credential", re.IGNORECASE)
_SECRET_QUERY = re.compile(
    r"([?&]([^=&\s?#'\"<>]*)=)([^&\s#'\"<>]+)",
)


def masked_query(text: str) -> str:
    """``text`` with the value of each URL query parameter named like a credential masked."""
    return _SECRET_QUERY.sub(
        lambda m: m.group(1) + "***" if SECRET_PARAMETER.search(m.group(2)) else m.group(0), text
    )


def redact(text: str, secrets: Iterable[Any], *, urls: bool = True) -> str:
    """``text`` with every occurrence of every secret, in every form, replaced by ``***``, and
    so is a secret's beginning shown without the rest (:func:`masked_beginning`).

    ``secrets`` are ``Secret`` objects or strings. A key reaches messages not only as typed:
    httpx shows it in a bytes repr (``b'Bearer sk-…\\n'``), proxies and servers echo it
    URL-encoded or JSON-escaped. With ``urls`` (messages), credentials in any URL
    (``user:password@`` of a base URL, a proxy, one quoted by a server) are masked too; prompts
    and answers pass ``urls=False``, since a connection string there is the user's content.
    """
    forms = every_form(secrets)
    if forms:
        text = _masked_spans(text, secret_spans(text, forms))
    return masked_query(_USERINFO.sub(r"\1***@", text)) if urls else text


MASKED_BEGINNING = 12  # characters of a key shown without the rest: masked from here on


def masked_beginning(form: str) -> int:
    """How many of a secret's first characters are masked when they appear without the rest.

    An answer cut short (Ctrl-C, a dropped stream, max_tokens) can end inside a key, and a
    model can shorten one with an ellipsis: masking whole secrets only would show most of it.
    A key's first 12 characters are masked, so at most its public prefix and a few characters
    show (``sk-proj-`` and 3). Only secrets of 24 characters or more are keys here: a shorter
    one (a proxy password such as ``proxy2024``) often starts with a word, and masking its
    beginning would mask that word in every answer, so it is masked whole only.
    """
    return MASKED_BEGINNING if len(form) >= 2 * MASKED_BEGINNING else len(form)


def secret_spans(text: str, forms: list[str]) -> list[tuple[int, int]]:
    """Where ``text`` shows a secret, whole or its beginning (see :func:`masked_beginning`):
    (start, end) of each run, longest at each start, in the order found."""
    spans = []
    for form in forms:
        head = form[: masked_beginning(form)]
        at = text.find(head)
        while at >= 0:
            end, limit = at + len(head), min(len(text), at + len(form))
            while end < limit and text[end] == form[end - at]:
                end += 1
            spans.append((at, end))
            at = text.find(head, at + 1)
    return spans


def _masked_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span, overlapping ones merged, replaced by ``***``."""
    pieces, shown_to = [], 0
    for start, end in sorted(spans):
        if start < shown_to:  # overlaps the span just masked: widen it
            shown_to = max(shown_to, end)
            continue
        pieces += [text[shown_to:start], "***"]
        shown_to = end
    return "".join(pieces) + text[shown_to:]


def every_form(secrets: Iterable[Any]) -> list[str]:
    """Every form of every secret, longest first: the order :func:`redact` tries them in."""
    return sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)


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
    """The human message a server put in its error body (OpenAI, vLLM or plain shapes), as
    one line of at most 300 characters; an HTML error page gives its title."""
    text = _body_message(exc).strip()
    if text.startswith("<"):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        import html  # only for an HTML error page

        text = html.unescape(title.group(1)) if title else ""
    return " ".join(text.split())[:300]


def _body_message(exc: BaseException) -> str:
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
        return body
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


@dataclass(frozen=True)
class Facts:
    """What the kernel knew about a failed request beyond the exception (see diagnosis.py)."""

    base_url: str = ""  # shown without user:password@
    proxy: tuple[str, str] | None = None  # (host:port, the setting it came from)
    placeholder_key: bool = False  # no key was set: the local-server placeholder was sent
    # the base URL carries ``user:password@``: the HTTP library sends them as Basic auth in
    # place of the key's Bearer header, so a 401 refuses them, not the key
    url_credentials: bool = False
    models: tuple[str, ...] | None = None  # GET /models after a 404, when it answered
    models_missing: bool = False  # GET /models answered 404 too
    deployment: bool = False  # the model names a deployment (Azure), not a model
    key_variable: str = "OPENAI_API_KEY"  # where the key sent comes from (Azure: its own)


def explain(
    exc: BaseException,
    *,
    host: str,
    model: str,
    timeout: float,
    secrets: Iterable[str],
    what: str = "request",
    facts: Facts = Facts(),
) -> str:
    """One line saying what went wrong and what to do about it, with ``secrets`` masked."""
    attempts = getattr(exc, "gptmagic_attempts", 1)  # set by retrying.call_with_retries
    return redact(_explain(exc, host, model, timeout, attempts, what, facts), secrets)


def connection_cause(exc: BaseException) -> str:
    """The transport error under an SDK connection error, e.g. ``ConnectError: ...``."""
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause else ""


KEY_HINT = "set OPENAI_API_KEY before starting the kernel, or run %gpt key to type one"


def _explain(
    exc: BaseException,
    host: str,
    model: str,
    timeout: float,
    attempts: int,
    what: str,
    facts: Facts,
) -> str:
    import openai

    retried = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return _unreachable(exc, host, timeout, retried, facts)
    if context_too_long(exc):
        return (
            f"The prompt and the conversation history are too long for {model} at {host}: "
            f"{server_message(exc)} Re-running will not help; shorten them: %gpt reset (or "
            "--new) starts a fresh conversation, --no-history sends only this prompt, and a "
            "lower GPTMagic.history_max_tokens sends fewer old turns."
        )
    if isinstance(exc, openai.APIResponseValidationError):
        base, v1 = _base_url_hint(facts)
        return (
            f"{host} answered {_request_line(exc)} with {exc.message}: this is not an "
            f"OpenAI-compatible API (a web server or a login page?); check {base}.{v1}"
        )
    if not isinstance(exc, openai.APIStatusError):
        return f"The {what} failed: {type(exc).__name__}: {server_message(exc)}"
    status, message = exc.status_code, server_message(exc)
    if facts.url_credentials and isinstance(exc, openai.AuthenticationError):
        return (
            f"{host} rejected the user name and password in the base URL (401): they are "
            "sent as Basic auth, in place of the API key. Check them in GPTMagic.base_url / "
            "OPENAI_BASE_URL, or take them out to send the key."
        )
    if facts.placeholder_key and status in (400, 401, 403):
        return _no_key(exc, host, what, facts)
    if isinstance(exc, openai.AuthenticationError):
        return (
            f"{host} rejected the API key (401). Set a valid key in the {facts.key_variable} "
            "environment variable before starting the kernel (or run %gpt key to type one)."
        )
    if isinstance(exc, openai.PermissionDeniedError):
        if facts.deployment:  # Azure: no org or project; access is the resource's roles
            return (
                f"{host} refused access (403): {message} Check that {facts.key_variable} "
                f"belongs to this Azure OpenAI resource and that its identity may use the "
                f"deployment '{model}' (a role assignment such as Cognitive Services OpenAI "
                "User, or the resource's network rules)."
            )
        return (
            f"{host} refused access (403): {message} Check that OPENAI_API_KEY, "
            "OPENAI_ORG_ID and OPENAI_PROJECT_ID allow this model."
        )
    if isinstance(exc, openai.NotFoundError):
        return _not_found(exc, host, model, what, facts)
    if status in (405, 501):  # a web server, not an OpenAI-compatible API, at base_url
        base, v1 = _base_url_hint(facts)
        said = f"; {detail}" if (detail := _short_message(exc)) else ""
        return (
            f"{host} does not accept {_request_line(exc)} ({status}{said}): this is not an "
            f"OpenAI-compatible API; check {base}.{v1}"
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


def _unreachable(exc: BaseException, host: str, timeout: float, retried: str, facts: Facts) -> str:
    """A timeout or a connection error; through a proxy, the proxy is named, not the server."""
    import openai

    from .transport import http_library

    cause = exc.__cause__ or exc.__context__
    detail = f": {connection_cause(exc)}" if cause else ""
    if facts.proxy:
        proxy, source = facts.proxy
        via = f"the proxy {proxy} (set by {source})"
        http = http_library()
        if isinstance(cause, (http.ConnectError, http.ConnectTimeout)):
            return (
                f"Could not connect to {via}{retried}{detail}. Start the proxy, or fix or "
                f"unset {source}."
            )
        if isinstance(cause, http.ProxyError):
            return f"{via} could not reach {host}{retried}{detail}. Check the proxy's access to it."
        if isinstance(exc, openai.APITimeoutError):
            return (
                f"No answer from {host} through {via} within {timeout:g} s{retried} (timeout). "
                f"Raise it with %config GPTMagic.timeout = {max(60, int(timeout * 2))}, or retry."
            )
        return f"Could not reach {host} through {via}{retried}{detail}. Check the proxy."
    if isinstance(exc, openai.APITimeoutError):
        return (
            f"No answer from {host} within {timeout:g} s{retried} (timeout). "
            f"Raise it with %config GPTMagic.timeout = {max(60, int(timeout * 2))}, or retry."
        )
    return (
        f"Could not reach {host}{retried}{detail}. Check GPTMagic.base_url / "
        "OPENAI_BASE_URL, your network and the proxy (GPTMagic.proxy, HTTPS_PROXY)."
    )


def _no_key(exc: Any, host: str, what: str, facts: Facts) -> str:
    """A refusal after the placeholder key was sent: the server wants a key and none is set."""
    status, message = exc.status_code, server_message(exc)
    if status == 401:
        return (
            f"{host} wants an API key (401) and none is set (gptmagic sent a placeholder, "
            f"which local servers without a key accept): {KEY_HINT}."
        )
    if status == 400 and (error_field(exc, "param") or "None") != "None":
        return f"{host} refused the {what} (400): {message}"  # a parameter, not the key
    return (
        f"{host} refused the {what} ({status}): {message} No API key is set, so gptmagic "
        f"sent a placeholder; if this server needs a key (LiteLLM with a master key, vLLM "
        f"--api-key), {KEY_HINT}."
    )


def _not_found(exc: Any, host: str, model: str, what: str, facts: Facts) -> str:
    """A 404: an unknown model, or a path the server does not have (base URL, endpoint).

    The body's structured fields say "model" when they can; otherwise the model list the
    kernel fetched after the 404 tells the two apart.
    """
    path = _request_line(exc)
    detail = _short_message(exc)
    said = f"; {detail}" if detail else ""
    base, v1 = _base_url_hint(facts)
    if what == "model list":
        return f"{host} has no model list at {path} (404{said}): check {base}.{v1}"
    says_model = (
        error_field(exc, "code") == "model_not_found" or error_field(exc, "param") == "model"
    )
    if error_field(exc, "code") == "DeploymentNotFound" or (facts.deployment and says_model):
        return (
            f"No deployment named {model!r} on {host} (404{said}): on Azure, -m and "
            "GPTMagic.model take the name you gave a deployment (the Deployments page of the "
            "Azure AI Foundry portal), not a model's name."
        )
    listed = facts.models is not None and model in facts.models
    if listed:
        if says_model:  # a gateway lists it, its backend does not have it
            return (
                f"{host} lists {model!r} but answered that it was not found (404{said}): the "
                "server behind it (a gateway's backend) does not serve it; check its "
                "configuration, or pick another model (%gpt models)."
            )
        return (
            f"{host} offers {model!r} but has no {path} (404{said}): this server (or the "
            f"backend behind a gateway) does not offer that endpoint; check {base} "
            "or use a server that does."
        )
    if says_model or facts.models is not None:
        import difflib  # only to name close models after a 404

        close = difflib.get_close_matches(model, facts.models or (), n=3, cutoff=0.6)
        nearby = f" Close names: {', '.join(close)}." if close else ""
        return (
            f"Model {model!r} was not found on {host} (404).{nearby} Run %gpt models to list "
            "the models it offers."
        )
    if facts.models_missing:
        return f"{host} has no {path} and no model list (404{said}): {base} looks wrong.{v1}"
    return (
        f"{host} answered 404 for {path}{': ' + detail if detail else ''}. Either model {model!r} "
        f"is unknown there (%gpt models lists them) or {base} is wrong.{v1}"
    )


def _request_line(exc: Any) -> str:
    """``POST /v1/chat/completions``: what was asked for (the path only, never a host)."""
    return f"{exc.request.method} {exc.request.url.path}"


def _base_url_hint(facts: Facts) -> tuple[str, str]:
    """``GPTMagic.base_url (URL)``, and a hint to add /v1 when the URL lacks it."""
    url = facts.base_url.rstrip("/")
    base = f"GPTMagic.base_url ({url})" if url else "GPTMagic.base_url"
    wants_v1 = url and not url.endswith("/v1")
    return base, f" Most servers want it to end in /v1 (try {url}/v1)." if wants_v1 else ""


def _short_message(exc: BaseException) -> str:
    """The server's message when it is a short line of text (not an HTML page), else ""."""
    text = server_message(exc).strip()
    if text.startswith(("<", "Error code: ")) or "\n" in text or len(text) > 160:
        return ""  # markup, or the SDK's own wording (the body said nothing)
    return text
