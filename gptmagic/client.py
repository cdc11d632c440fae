"""The API client: one ``openai.OpenAI`` per endpoint, and chat results as plain events.

``openai`` is imported here, on first use, never when the extension loads (it takes about
0.4 s). Streams and non-streamed answers are turned into the same small event types, so the
display code has one path.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .apikey import known_secrets, resolve_key
from .errors import GPTMagicError, redact
from .files import without_lone_surrogates
from .usage import Usage

if TYPE_CHECKING:
    from .session import Secret

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, repr=False)
class Endpoint:
    """Where requests go and how: everything that needs a different SDK client."""

    base_url: str
    proxy: str | None
    timeout: float

    @classmethod
    def resolve(cls, base_url: str, proxy: str, timeout: float) -> Endpoint:
        """Trait values first, then the environment, then the API's own address."""
        url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        return cls(url.rstrip("/"), proxy or None, float(timeout))

    def __repr__(self) -> str:
        """Without credentials (``user:password@``) of the base URL or the proxy."""
        proxy = None if self.proxy is None else redact(self.proxy, [])
        return (
            f"Endpoint(base_url={redact(self.base_url, [])!r}, proxy={proxy!r}, "
            f"timeout={self.timeout!r})"
        )

    @property
    def host(self) -> str:
        """The server's host (and port): safe to show and to store in provenance."""
        parts = urlsplit(self.base_url)
        if not parts.hostname:
            return public_url(self.base_url)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        try:
            port = parts.port
        except ValueError:  # "host:notaport": shown as typed, the request says what is wrong
            return parts.netloc.rpartition("@")[2]
        return f"{host}:{port}" if port else host  # never user:password@

    @property
    def public_url(self) -> str:
        """The base URL as it may be shown (dry run, messages): without ``user:password@``."""
        return public_url(self.base_url)


def public_url(url: str) -> str:
    """``url`` without the credentials a URL can carry (``http://user:pass@host/v1``)."""
    parts = urlsplit(url)
    if not parts.netloc and "@" in url:  # no scheme ("user:pass@host/v1"): not parsed as a URL
        return url.rpartition("@")[2]
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass
class Delta:
    index: int
    text: str


@dataclass
class Finish:
    index: int
    reason: str


@dataclass
class Reported:
    usage: Usage | None  # None: the server's usage report could not be read (see note)
    model: str | None = None
    note: str = ""


Event = Delta | Finish | Reported

REPLACEMENT = "\ufffd"
_HIGH, _LOW = range(0xD800, 0xDC00), range(0xDC00, 0xE000)


class MalformedChunk(ValueError):
    """The server sent something that is not a chat completion (chunk); says what, in words."""


def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the stream broke (the SDK's, its HTTP library's, bad data)."""
    import openai

    # JSONDecodeError, not every ValueError: a bug in display code must not pass for bad data.
    errors: list[type[BaseException]] = [openai.APIError, json.JSONDecodeError, MalformedChunk]
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "HTTPError"):
            errors += [module.HTTPError, module.StreamError]
    return tuple(errors)


def _field(obj: Any, name: str) -> Any:
    """A field of an SDK object or a plain dict; a value of any other type is malformed."""
    import openai

    if isinstance(obj, dict):
        return obj.get(name)
    if isinstance(obj, openai.BaseModel):
        return getattr(obj, name, None)
    raise MalformedChunk(f"{_short(obj)} where an object was expected")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _check(value: Any, name: str, kind: type) -> Any:
    """``value`` if it is None or a ``kind`` (a bool is no int), else MalformedChunk."""
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise MalformedChunk(f"{name!r} is {_short(value)}, not {kind.__name__}")


def _choices(chunk: Any) -> list[Any]:
    choices = _field(chunk, "choices")
    if choices is None:
        return []
    if not isinstance(choices, list):
        raise MalformedChunk(f"'choices' is {_short(choices)}, not a list")
    return choices


def read_choice(choice: Any, part: str, n: int) -> tuple[int, str | None, str | None]:
    """(index, text, finish reason) of one choice; ``part`` is ``delta`` or ``message``."""
    index = _check(_field(choice, "index"), "index", int)
    if index is None or not 0 <= index < n:
        raise MalformedChunk(f"'index' is {_short(index)}, not an answer number below n = {n}")
    body = _field(choice, part)
    content = None if body is None else _check(_field(body, "content"), "content", str)
    return index, content, _check(_field(choice, "finish_reason"), "finish_reason", str)


def read_usage(chunk: Any) -> Reported | None:
    """The usage a chunk (or completion) reports; an unreadable one is ignored, with a note."""
    raw, model = _field(chunk, "usage"), _field(chunk, "model")
    model = model if isinstance(model, str) else None
    if raw is None:
        return None
    try:
        usage = Usage.from_api(raw) if not isinstance(raw, (str, int, float, list)) else None
    except (TypeError, ValueError, OverflowError):
        usage = None
    if usage is None:
        note = "The server's usage report could not be read (not token counts); it was ignored."
        return Reported(None, model, note)
    return Reported(usage, model)


def http_library() -> ModuleType:
    """The HTTP library the installed ``openai`` is built on (``httpx``, or ``httpx2``)."""
    import openai

    for cls in openai.DefaultHttpxClient.__mro__:
        root = cls.__module__.partition(".")[0]
        if root.startswith("httpx"):
            return sys.modules[root]
    raise ImportError("openai.DefaultHttpxClient is not built on httpx")


def make_sdk_client(endpoint: Endpoint, key: Secret) -> Any:
    """An ``openai.OpenAI`` for ``endpoint``; retries are gptmagic's own (see retrying.py)."""
    import openai

    http_client = None
    if endpoint.proxy:
        http_client = openai.DefaultHttpxClient(proxy=endpoint.proxy)
    return openai.OpenAI(
        api_key=key.reveal(),
        base_url=endpoint.base_url,
        timeout=endpoint.timeout,
        max_retries=0,
        http_client=http_client,
    )


def sdk_for(session: Any, endpoint: Endpoint) -> Any:
    """The kernel's client for ``endpoint`` (kept, so connections are reused).

    A client that cannot be built (a SOCKS proxy without ``socksio``, a proxy URL of an unknown
    scheme, also one from ``HTTPS_PROXY``) is a one-line error. It is raised outside the
    ``except`` block, so no chained traceback keeps the SDK's frames, whose locals hold the key.
    """
    import urllib.request

    key = resolve_key(session, endpoint.host)
    # The HTTP library reads HTTP(S)_PROXY when a client is made: a %env change needs a new one.
    environment = () if endpoint.proxy else tuple(sorted(urllib.request.getproxies().items()))
    cache_key = (endpoint, key, environment)
    if cache_key in session.clients:
        return session.clients[cache_key]
    try:
        session.clients[cache_key] = make_sdk_client(endpoint, key)
        return session.clients[cache_key]
    except Exception as exc:
        problem = redact(f"{type(exc).__name__}: {exc}", known_secrets(session))
    proxy = f" through the proxy {redact(endpoint.proxy, [])}" if endpoint.proxy else ""
    raise GPTMagicError(
        f"Cannot set up the connection to {endpoint.host}{proxy}: {problem} "
        "Check GPTMagic.proxy (or HTTPS_PROXY / HTTP_PROXY) and GPTMagic.base_url."
    )


class ChatStream:
    """Iterates the events of one streamed answer and always closes its HTTP response.

    Every chunk is checked before it becomes an event: a chunk of the wrong shape, or bytes
    that are not UTF-8, raise :class:`MalformedChunk` (the answer so far stays usable). An
    emoji whose two UTF-16 halves arrive in different chunks is joined again; a half that
    stays alone becomes U+FFFD.
    """

    def __init__(self, sdk_stream: Any, n: int = 1):
        self._stream, self._n = sdk_stream, n
        self._high: dict[int, str] = {}  # per answer: a high surrogate waiting for its pair

    def __iter__(self) -> Iterator[Event]:
        chunks = iter(self._stream)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                raise MalformedChunk(f"bytes that are not UTF-8 ({exc.reason})") from None
            yield from self._events(chunk)
        for index in sorted(self._high):
            yield Delta(index, REPLACEMENT)

    def _events(self, chunk: Any) -> Iterator[Event]:
        for choice in _choices(chunk):
            index, content, finish = read_choice(choice, "delta", self._n)
            if content and (text := self._joined(index, content)):
                yield Delta(index, text)
            if finish:
                if self._high.pop(index, None):
                    yield Delta(index, REPLACEMENT)
                yield Finish(index, finish)
        if reported := read_usage(chunk):
            yield reported

    def _joined(self, index: int, text: str) -> str:
        """``text`` with a surrogate pair split across two chunks joined again."""
        if held := self._high.pop(index, ""):
            text = (held if ord(text[0]) in _LOW else REPLACEMENT) + text
        if ord(text[-1]) in _HIGH:
            self._high[index], text = text[-1], text[:-1]
        return without_lone_surrogates(text)

    def close(self) -> None:
        self._stream.close()


def completion_events(completion: Any, n: int = 1) -> list[Event]:
    """The events of a non-streamed completion, in the order a stream would give them."""
    events: list[Event] = []
    for choice in _choices(completion):
        index, content, finish = read_choice(choice, "message", n)
        if content:
            events.append(Delta(index, without_lone_surrogates(content)))
        events.append(Finish(index, finish or "stop"))
    if reported := read_usage(completion):
        events.append(reported)
    return events


def parsed(raw: Any) -> Any:
    """What the SDK makes of a ``with_raw_response`` answer, unless it is a web page.

    A web server, a single-page app or a login portal at the base URL answers 200 with HTML;
    the SDK would hand back a ``str`` (or fail inside) and the cell would end in a traceback.
    """
    import openai

    if raw.headers.get("content-type", "").startswith("text/html"):
        raw.http_response.close()
        raise openai.APIResponseValidationError(
            raw.http_response, None, message="a web page (text/html), not the API's JSON"
        )
    return raw.parse()


def open_chat(sdk: Any, body: dict[str, Any]) -> ChatStream | list[Event]:
    """Send a chat request; a stream for ``stream=True`` bodies, else all events at once."""
    n = body.get("n") or 1
    answer = parsed(sdk.chat.completions.with_raw_response.create(**body))
    return ChatStream(answer, n) if body.get("stream") else completion_events(answer, n)


def list_models(sdk: Any) -> list[str]:
    return sorted(model.id for model in parsed(sdk.models.with_raw_response.list()))
