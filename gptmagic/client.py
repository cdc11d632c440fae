"""The API client: one SDK client per endpoint, and what every backend shares.

``openai`` is imported here, on first use, never when the extension loads (it takes about
0.4 s). The request shapes and their streams live in :mod:`gptmagic.backends`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .apikey import known_secrets, resolve_key
from .errors import GPTMagicError, masked_query, redact

if TYPE_CHECKING:
    from .session import Secret

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, repr=False)
class Endpoint:
    """Where requests go and how: everything that needs a different SDK client."""

    base_url: str
    proxy: str | None
    timeout: float
    provider: str = "openai"  # who makes the SDK client (see gptmagic.backends.PROVIDERS)
    api_version: str = ""  # Azure's api-version (empty: the environment's)

    @classmethod
    def resolve(
        cls, base_url: str, proxy: str, timeout: float, provider: str = "auto", api_version=""
    ) -> Endpoint:
        """Trait values first, then the environment, then the API's own address.

        A provider chosen by name reads its own variable (``AZURE_OPENAI_ENDPOINT``) before
        ``OPENAI_BASE_URL``, which is often set for another server: its key must not go there.
        """
        from .backends import provider_for, provider_url

        url = base_url or provider_url(provider) or os.environ.get("OPENAI_BASE_URL") or ""
        check_readable(url, "server address", "GPTMagic.base_url or OPENAI_BASE_URL")
        check_readable(proxy, "proxy address", "GPTMagic.proxy")
        chosen = provider_for(provider, url)
        if chosen == "openai" and not url:
            url = DEFAULT_BASE_URL
        return cls(url.rstrip("/"), proxy or None, float(timeout), chosen, api_version)

    def __repr__(self) -> str:
        """Without credentials (``user:password@``) of the base URL or the proxy."""
        proxy = None if self.proxy is None else redact(self.proxy, [])
        return (
            f"Endpoint(base_url={redact(self.base_url, [])!r}, proxy={proxy!r}, "
            f"timeout={self.timeout!r}, provider={self.provider!r})"
        )

    @property
    def host(self) -> str:
        """The server's host (and port): safe to show and to store in provenance."""
        parts = urlsplit(self.base_url)
        if not parts.hostname:
            return public_url(self.base_url)
        try:
            port = parts.port
        except ValueError:  # "host:notaport": shown as typed, the request says what is wrong
            return parts.netloc.rpartition("@")[2]
        return host_port(parts.hostname, port)  # never user:password@

    @property
    def public_url(self) -> str:
        """The base URL as it may be shown (dry run, messages): without ``user:password@``."""
        return public_url(self.base_url)


def host_port(host: str, port: int | None) -> str:
    """``host:port`` as a URL writes it: an IPv6 address in brackets (``[::1]:8080``)."""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def public_url(url: str) -> str:
    """``url`` without the credentials a URL can carry (``http://user:pass@host/v1``, and the
    value of a query parameter named like one: ``?key=***``)."""
    parts = urlsplit(url)
    if not parts.netloc and "@" in url:  # no scheme ("user:pass@host/v1"): not parsed as a URL
        return masked_query(url.rpartition("@")[2])
    if "@" not in parts.netloc:
        return masked_query(url)
    return masked_query(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))


def make_sdk_client(endpoint: Endpoint, key: Secret) -> Any:
    """An ``openai.OpenAI`` for ``endpoint``; retries are gptmagic's own (see retrying.py)."""
    import openai

    http_client = None
    if endpoint.proxy:
        http_client = openai.DefaultHttpxClient(proxy=endpoint.proxy)
    # A query in the base URL (a gateway's ?key= or ?team=) goes with every request: the SDK
    # appends paths to the base URL's path, so a query left in it would end up mid-path.
    parts = urlsplit(endpoint.base_url)
    return openai.OpenAI(
        api_key=key.reveal(),
        base_url=urlunsplit(parts._replace(query="", fragment="")),
        default_query=dict(parse_qsl(parts.query)) or None,
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

    from .backends import client_factory, provider_environment
    from .session import Secret

    factory = client_factory(endpoint.provider)
    # A provider other than OpenAI reads its own key variables unless one was typed here.
    key = resolve_key(session, endpoint.host) if factory is None else session.typed_key
    # What its client reads from the environment when it is made: a new value (an Azure AD
    # token renewed with %env, another api-version) needs a new client, as a new key does.
    variables = provider_environment(endpoint.provider)
    provider_env = tuple(Secret(os.environ.get(name, "")) for name in variables)
    # The HTTP library reads HTTP(S)_PROXY when a client is made: a %env change needs a new one.
    environment = () if endpoint.proxy else tuple(sorted(urllib.request.getproxies().items()))
    cache_key = (endpoint, key, provider_env, environment)
    check_scheme(endpoint)
    if cache_key in session.clients:
        return session.clients[cache_key]
    try:
        session.clients[cache_key] = (factory or make_sdk_client)(endpoint, key)
        return session.clients[cache_key]
    except GPTMagicError:
        raise
    except Exception as exc:
        problem = redact(f"{type(exc).__name__}: {exc}", known_secrets(session))
    proxy = f" through the proxy {redact(endpoint.proxy, [])}" if endpoint.proxy else ""
    raise GPTMagicError(
        f"Cannot set up the connection to {endpoint.host}{proxy}: {problem} "
        "Check GPTMagic.proxy (or HTTPS_PROXY / HTTP_PROXY) and GPTMagic.base_url."
    )


def check_readable(url: str, what: str, where: str) -> None:
    """An address no URL parser can read (``http://[::1/v1``, an unclosed IPv6 bracket) fails
    every request, every model list and the panel alike: one line saying where to fix it,
    before anything reads its host."""
    try:
        urlsplit(url)
    except ValueError as exc:
        raise GPTMagicError(
            f"The {what} {redact(url, [])!r} cannot be read ({exc}): fix it in {where}."
        ) from None


def check_scheme(endpoint: Endpoint) -> None:
    """A base URL without ``http://`` or ``https://`` (``myres.openai.azure.com``) fails every
    attempt the same way; retrying, or blaming the network or the proxy, would mislead. No
    address at all (Azure without AZURE_OPENAI_ENDPOINT): the provider says what to set."""
    if not endpoint.base_url or urlsplit(endpoint.base_url).scheme.lower() in ("http", "https"):
        return
    from .backends import PROVIDERS

    variable = PROVIDERS[endpoint.provider][2] if endpoint.provider in PROVIDERS else ""
    address = public_url(endpoint.base_url)
    raise GPTMagicError(
        f"The server address {address!r} has no http:// or https:// in front: write it in "
        f"full (https://{address}, or http:// for a local server) in GPTMagic.base_url or "
        f"{variable or 'OPENAI_BASE_URL'}."
    )


def parsed(raw: Any, to: type | None = None) -> Any:
    """What the SDK makes of a ``with_raw_response`` answer (as type ``to``, if given),
    unless it is a web page.

    A web server, a single-page app or a login portal at the base URL answers 200 with HTML;
    the SDK would hand back a ``str`` (or fail inside) and the cell would end in a traceback.
    """
    import openai

    if raw.headers.get("content-type", "").startswith("text/html"):
        raw.http_response.close()
        raise openai.APIResponseValidationError(
            raw.http_response, None, message="a web page (text/html), not the API's JSON"
        )
    return raw.parse(to=to) if to is not None else raw.parse()


def list_models(sdk: Any) -> list[str]:
    return sorted(model.id for model in parsed(sdk.models.with_raw_response.list()))
