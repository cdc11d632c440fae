"""Backends: the APIs gptmagic speaks (``GPTMagic.api``) and the providers it reaches them
through (``GPTMagic.provider``). See :mod:`.base` for the interface.

Modules load on first use: the magics import none of this at ``%load_ext``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from .base import Backend

#: GPTMagic.api value -> "module:class" of its backend
APIS = {
    "chat": "chat_completions:ChatCompletions",
    "responses": "responses:Responses",
}


def backend_for(api: str) -> Backend:
    """The backend for ``GPTMagic.api`` (``chat`` or ``responses``)."""
    module, _, name = APIS[api].partition(":")
    return getattr(importlib.import_module(f".{module}", __name__), name)()


#: GPTMagic.provider value -> (module, how to recognise its base URL, where its URL may come
#: from in the environment, the environment variables holding its credentials, which are
#: masked like the API key). The OpenAI client (any OpenAI-compatible server) is the default
#: and needs no entry: a provider's module defines ``make_client(endpoint, key)``, where key
#: is a key typed in this kernel (a ``Secret``) or None (the provider reads its own variable).
PROVIDERS = {
    "azure": (
        "azure",
        "is_azure_url",
        "AZURE_OPENAI_ENDPOINT",
        ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN"),
    ),
}
PROVIDER_NAMES = ("auto", "openai", *PROVIDERS)


def secret_variables(provider: str | None = None) -> tuple[str, ...]:
    """The credential variables of ``provider`` (default: every provider's), masked wherever
    text is shown."""
    entries = PROVIDERS.values() if provider is None else [PROVIDERS[provider]]
    return tuple(name for entry in entries for name in entry[3])


def _module(name: str) -> Any:
    return importlib.import_module(f".{name}", __name__)


def provider_for(setting: str, url: str | None) -> str:
    """The provider a request uses: the setting, or with ``auto`` the one whose hosts the
    base URL names (``openai`` otherwise)."""
    if setting != "auto":
        return setting
    for name, (module, recognise, _env, _secrets) in PROVIDERS.items():
        if url and getattr(_module(module), recognise)(url):
            return name
    return "openai"


def provider_url(provider: str) -> str | None:
    """The base URL a provider's users keep in the environment (e.g. AZURE_OPENAI_ENDPOINT)."""
    entry = PROVIDERS.get(provider)
    return os.environ.get(entry[2]) if entry else None


def request_url(endpoint: Any, path: str, model: str) -> str:
    """Where a request to the API's ``path`` goes (``--dry-run`` shows it): the base URL and
    the path, or the provider's own address for it (Azure: a deployment's, with api-version)."""
    entry = PROVIDERS.get(endpoint.provider)
    if entry is None:  # the path goes before a query the base URL may carry
        parts = urlsplit(endpoint.base_url)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))
    return _module(entry[0]).request_url(endpoint, path, model)


def model_is_deployment(provider: str) -> bool:
    """Whether the provider's model setting names a deployment (Azure), not a model: its 404s
    and its model list then say so."""
    entry = PROVIDERS.get(provider)
    return bool(entry) and getattr(_module(entry[0]), "MODEL_IS_DEPLOYMENT", False)


def provider_environment(provider: str) -> tuple[str, ...]:
    """The environment variables a provider's client reads when it is made (address,
    credentials, version; a module's ``ENVIRONMENT``): a new value needs a new client."""
    entry = PROVIDERS.get(provider)
    return getattr(_module(entry[0]), "ENVIRONMENT", ()) if entry else ()


def client_factory(provider: str) -> Callable[[Any, Any], Any] | None:
    """A provider's ``make_client(endpoint, key)``; None for the OpenAI client."""
    entry = PROVIDERS.get(provider)
    return _module(entry[0]).make_client if entry else None
