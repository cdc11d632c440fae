"""Azure OpenAI as a provider: the ``openai`` SDK's own ``AzureOpenAI`` client.

Azure serves OpenAI's APIs from a resource's address (``https://NAME.openai.azure.com``) with
its own paths (``/openai/deployments/{deployment}/chat/completions?api-version=...``,
``/openai/responses?api-version=...``), the key in an ``api-key`` header, and *deployment
names* where OpenAI has model names: gptmagic's model is the deployment. The SDK rewrites the
paths and headers itself; this module finds the address, version and key the way users
already set them (``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``, ``AZURE_OPENAI_API_KEY``)
and builds the client.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import GPTMagicError

ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
KEY_ENV = "AZURE_OPENAI_API_KEY"
AD_TOKEN_ENV = "AZURE_OPENAI_AD_TOKEN"
VERSION_ENV = "OPENAI_API_VERSION"
#: what the client reads from the environment when it is made: a change needs a new client
ENVIRONMENT = (ENDPOINT_ENV, KEY_ENV, AD_TOKEN_ENV, VERSION_ENV)
#: the hosts of Azure OpenAI resources (classic and AI Foundry)
AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com")
#: gptmagic's model names a deployment here; ``GET /models`` lists the base models the resource
#: can deploy, not its deployments (so a 404 is not explained from that list)
MODEL_IS_DEPLOYMENT = True


def is_azure_url(url: str | None) -> bool:
    """Whether ``url`` names an Azure OpenAI resource (by its host, not by its path)."""
    host = urlsplit(url or "").hostname or ""
    return host.endswith(AZURE_HOSTS)


@dataclass(frozen=True)
class AzureEndpoint:
    """A resource's address (no ``/openai`` path) and the ``api-version`` sent with each call."""

    endpoint: str
    api_version: str

    @classmethod
    def resolve(cls, base_url: str | None = None, api_version: str | None = None) -> AzureEndpoint:
        """Given values first, then the environment the SDK reads. A URL copied from Azure's
        portal may carry a path and ``?api-version=``: the path is cut, the version used."""
        url = base_url or os.environ.get(ENDPOINT_ENV)
        if not url:
            raise GPTMagicError(
                f"Azure OpenAI needs its endpoint: set {ENDPOINT_ENV} "
                "(https://NAME.openai.azure.com) or GPTMagic.base_url."
            )
        parts = urlsplit(url.strip())
        if parts.scheme.lower() == "http" and is_azure_url(url):
            raise GPTMagicError(
                f"Azure OpenAI resources answer over https only; http://{parts.hostname} would "
                f"send the key unencrypted. Use https://{parts.hostname}."
            )
        from_url = parse_qs(parts.query).get("api-version", [None])[-1]
        version = api_version or from_url or os.environ.get(VERSION_ENV)
        if not version:
            raise GPTMagicError(
                f"Azure OpenAI needs an API version: set {VERSION_ENV} (e.g. 2024-10-21; "
                "2025-03-01-preview or later for the Responses API)."
            )
        path = parts.path.rstrip("/")
        path = path[: path.find("/openai")] if "/openai" in path else path
        return cls(urlunsplit((parts.scheme, parts.netloc, path, "", "")), version)


def azure_key(api_key: str | None = None) -> str | None:
    """The key to send: the given one, else ``AZURE_OPENAI_API_KEY`` (None with an AD token)."""
    key = api_key or os.environ.get(KEY_ENV)
    if not key and not os.environ.get(AD_TOKEN_ENV):
        raise GPTMagicError(
            f"No Azure OpenAI key: set the {KEY_ENV} environment variable (or "
            f"{AD_TOKEN_ENV}) before starting the kernel."
        )
    return key or None


def make_azure_client(
    endpoint: AzureEndpoint,
    api_key: str | None = None,
    *,
    timeout: float = 60.0,
    proxy: str | None = None,
) -> Any:
    """An ``openai.AzureOpenAI`` for ``endpoint``; retries are gptmagic's own (retrying.py).

    No deployment is bound to the client: each request's model names its deployment.
    """
    import openai

    http_client = openai.DefaultHttpxClient(proxy=proxy) if proxy else None
    return openai.AzureOpenAI(
        azure_endpoint=endpoint.endpoint,
        api_version=endpoint.api_version,
        api_key=azure_key(api_key),
        timeout=timeout,
        max_retries=0,
        http_client=http_client,
    )


#: the paths the SDK sends to a deployment (``/openai/deployments/{model}...``); the others,
#: the Responses API's among them, go to ``/openai...`` with the model in the body
DEPLOYMENT_PATHS = ("/chat/completions", "/completions", "/embeddings", "/images/generations")


def request_url(endpoint: Any, path: str, model: str) -> str:
    """The URL the ``AzureOpenAI`` client sends ``path`` to: the resource (a portal URL's
    path and query cut), the deployment when the path takes one, and the api-version."""
    azure = AzureEndpoint.resolve(endpoint.base_url or None, endpoint.api_version or None)
    deployment = f"/deployments/{model}" if path in DEPLOYMENT_PATHS else ""
    return f"{azure.endpoint}/openai{deployment}{path}?api-version={azure.api_version}"


def make_client(endpoint: Any, key: Any) -> Any:
    """The provider hook (see :mod:`gptmagic.backends`): an ``AzureOpenAI`` for gptmagic's
    ``Endpoint``, with a key typed in this kernel (a ``Secret``) or else the environment's."""
    azure = AzureEndpoint.resolve(endpoint.base_url or None, endpoint.api_version or None)
    return make_azure_client(
        azure,
        key.reveal() if key is not None else None,
        timeout=endpoint.timeout,
        proxy=endpoint.proxy,
    )
