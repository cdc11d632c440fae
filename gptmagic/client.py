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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .apikey import known_secrets, resolve_key
from .errors import GPTMagicError, redact
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
            return self.base_url
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{host}:{parts.port}" if parts.port else host  # never user:password@


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
    usage: Usage
    model: str | None = None


Event = Delta | Finish | Reported


def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the stream broke (the SDK's, its HTTP library's, bad JSON)."""
    import openai

    # JSONDecodeError, not every ValueError: a bug in display code must not pass for bad data.
    errors: list[type[BaseException]] = [openai.APIError, json.JSONDecodeError]
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "HTTPError"):
            errors += [module.HTTPError, module.StreamError]
    return tuple(errors)


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
    key = resolve_key(session, endpoint.host)
    cache_key = (endpoint, key)
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
    """Iterates the events of one streamed answer and always closes its HTTP response."""

    def __init__(self, sdk_stream: Any):
        self._stream = sdk_stream

    def __iter__(self) -> Iterator[Event]:
        for chunk in self._stream:
            for choice in chunk.choices or ():
                content = choice.delta.content if choice.delta else None
                if content:
                    yield Delta(choice.index, content)
                if choice.finish_reason:
                    yield Finish(choice.index, choice.finish_reason)
            if getattr(chunk, "usage", None):
                yield Reported(Usage.from_api(chunk.usage), chunk.model)

    def close(self) -> None:
        self._stream.close()


def completion_events(completion: Any) -> list[Event]:
    """The events of a non-streamed completion, in the order a stream would give them."""
    events: list[Event] = []
    for choice in completion.choices:
        if choice.message.content:
            events.append(Delta(choice.index, choice.message.content))
        events.append(Finish(choice.index, choice.finish_reason or "stop"))
    if completion.usage:
        events.append(Reported(Usage.from_api(completion.usage), completion.model))
    return events


def open_chat(sdk: Any, body: dict[str, Any]) -> ChatStream | list[Event]:
    """Send a chat request; a stream for ``stream=True`` bodies, else all events at once."""
    if body.get("stream"):
        return ChatStream(sdk.chat.completions.create(**body))
    return completion_events(sdk.chat.completions.create(**body))


def list_models(sdk: Any) -> list[str]:
    return sorted(model.id for model in sdk.models.list())
