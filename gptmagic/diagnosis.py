"""What the kernel knows about a failed request beyond the exception, for its one-line error.

:func:`errors.explain` words the message; the facts it needs from outside the exception are
gathered here: the proxy the request went through and where that setting came from, whether
the placeholder key was sent (no key was set), and after a 404 whether the server lists the
model (one bounded ``GET /models``, with the key already in use: it never prompts). Gathering
facts never raises: a failed probe only makes the message less specific.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .apikey import PLACEHOLDER
from .client import Endpoint, host_port
from .errors import Facts, explain
from .transport import http_library

PROBE_TIMEOUT = 10.0  # seconds, at most: the probe only refines a message


def explain_failure(
    exc: BaseException,
    *,
    endpoint: Endpoint,
    model: str,
    secrets: Iterable[Any],
    sdk: Any = None,
    what: str = "request",
) -> str:
    """:func:`errors.explain` for ``exc``, told what only the kernel knows."""
    import openai

    from .backends import model_is_deployment

    facts = Facts(
        base_url=display_url(endpoint.base_url),
        proxy=proxy_in_use(endpoint),
        placeholder_key=getattr(sdk, "api_key", None) == PLACEHOLDER,
        url_credentials=sends_url_credentials(endpoint),
        deployment=model_is_deployment(endpoint.provider),
        key_variable=key_variable(endpoint),
    )
    # Azure's model list holds base models, not deployments: it cannot tell a 404's cause.
    probe = what != "model list" and sdk is not None and not facts.deployment
    if isinstance(exc, openai.NotFoundError) and probe:
        facts = probe_models(sdk, endpoint.timeout, facts)
    return explain(
        exc,
        host=endpoint.host,
        model=model,
        timeout=endpoint.timeout,
        secrets=secrets,
        what=what,
        facts=facts,
    )


def key_variable(endpoint: Endpoint) -> str:
    """The environment variable the key sent comes from: ``OPENAI_API_KEY``, or another
    provider's own (Azure's client never reads ``OPENAI_API_KEY``)."""
    from .backends import PROVIDERS, secret_variables

    if endpoint.provider not in PROVIDERS:
        return "OPENAI_API_KEY"
    names = secret_variables(endpoint.provider)
    return next((name for name in names if os.environ.get(name, "").strip()), names[0])


def sends_url_credentials(endpoint: Endpoint) -> bool:
    """Whether the base URL's ``user:password@`` goes as Basic auth in place of the OpenAI
    client's key. (Azure's key travels in its own ``api-key`` header: a refusal there is
    still the key's.)"""
    return endpoint.provider == "openai" and "@" in urlsplit(endpoint.base_url).netloc


def display_url(url: str) -> str:
    """``url`` without ``user:password@``, query or fragment: safe to show."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url.split("@")[-1]
    netloc = host_port(parts.hostname, parts.port)
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def proxy_address(url: str) -> str:
    """``host:port`` of a proxy URL (never its ``user:password@``)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return host_port(parts.hostname or "?", port)


def proxy_in_use(endpoint: Endpoint) -> tuple[str, str] | None:
    """The proxy requests to ``endpoint`` go through, and the setting that chose it.

    ``GPTMagic.proxy`` first; else the environment exactly as the SDK's HTTP library reads it
    (``https_proxy``/``HTTPS_PROXY`` for https, ``http_proxy``/``HTTP_PROXY`` for http, then
    ``all_proxy``/``ALL_PROXY``; lowercase wins; ``NO_PROXY`` exempts hosts).
    """
    if endpoint.proxy:
        return proxy_address(endpoint.proxy), "GPTMagic.proxy"
    try:
        http = http_library()
        url = http.URL(endpoint.base_url)
        mounts = {
            http._utils.URLPattern(key): value
            for key, value in http._utils.get_environment_proxies().items()
        }
        for pattern, proxy in sorted(mounts.items()):  # the library's own precedence
            if pattern.matches(url):
                if proxy is None:
                    return None
                return proxy_address(proxy), proxy_variable(pattern.pattern.split(":")[0])
    except Exception:  # a private helper moved in another version: say less, never fail
        return None
    return None


def proxy_variable(scheme: str) -> str:
    """The environment variable urllib (and so httpx) took the ``scheme`` proxy from."""
    names = [
        name for name, value in os.environ.items() if value and name.lower() == f"{scheme}_proxy"
    ]
    lowercase = [name for name in names if name.endswith("_proxy")]  # urllib prefers these
    return (lowercase or names or ["the system's proxy settings"])[0]


def probe_models(sdk: Any, timeout: float, facts: Facts) -> Facts:
    """``facts`` plus what ``GET /models`` says: the list, or that it is missing too."""
    import dataclasses

    import openai

    try:
        quick = sdk.with_options(timeout=min(timeout, PROBE_TIMEOUT), max_retries=0)
        names = tuple(str(model.id) for model in quick.models.list().data)
    except openai.NotFoundError:
        return dataclasses.replace(facts, models_missing=True)
    except Exception:  # refused, unreachable, or not a model list: no more facts
        return facts
    return dataclasses.replace(facts, models=names)
