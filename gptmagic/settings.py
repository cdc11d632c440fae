"""The kernel's configuration: ``GPTMagic``'s traits, and the frozen copy a cell runs with.

Like IPython's ``StoreMagics`` and jupysql's ``SqlMagic``, the magics object is the
``Configurable`` (``GPTMagic`` inherits these traits), so ``%config GPTMagic.model = "..."``,
``c.GPTMagic.model`` in ``ipython_config.py`` and the panel all set them. The API key is
deliberately not a trait (``%config GPTMagic`` prints every trait; see apikey.py).

Code below the magics never reads the live traits: each cell takes a :class:`Snapshot`
(every setting's value, frozen) inside a :class:`CellContext` with the kernel's session,
shell and endpoint, so one cell sees one consistent configuration and nothing below the
magics imports them.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import dataclass, make_dataclass
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from . import arguments
from .backends import PROVIDER_NAMES

if TYPE_CHECKING:
    from .client import Endpoint
    from .session import KernelSession

CACHE_MODES = ("off", "record", "replay")
CACHE_ENV = "GPTMAGIC_CACHE"
MODE_ENV = "GPTMAGIC_CACHE_MODE"


def default_cache_mode() -> str:
    """``GPTMAGIC_CACHE_MODE``, else ``record`` (which acts only once a cache file is set).

    An unknown value falls back to ``replay``, the mode that can never spend anything.
    """
    value = os.environ.get(MODE_ENV, "").strip().lower() or "record"
    if value not in CACHE_MODES:
        warnings.warn(
            f"{MODE_ENV}={value!r} is not one of {', '.join(CACHE_MODES)}; using 'replay' "
            "(never calls the API).",
            stacklevel=2,
        )
        return "replay"
    return value


class CredentialedURL(str):
    """A base URL or proxy URL as set, shown without its ``user:password@`` (or the value of
    a query parameter named like a credential, ``?key=``).

    ``%config GPTMagic.proxy`` returns the value itself (usable in code, equal to what was
    set), but a notebook saves what it displays (``Out[n]``, the repr): that is masked, so a
    password set in ``ipython_config.py`` or typed once does not reach the saved file."""

    __slots__ = ()

    def __repr__(self) -> str:
        from .errors import redact

        return redact(str.__repr__(self), [])


class Settings(Configurable):
    """Every setting of gptmagic, validated as it is set (a bad value is refused, with why)."""

    model = Unicode("gpt-4o-mini", help="Chat model used when a cell does not say -m.").tag(
        config=True
    )
    temperature = Float(
        None, allow_none=True, help="Sampling temperature, 0 to 2 (None: the server's default)."
    ).tag(config=True)
    top_p = Float(None, allow_none=True, help="Nucleus sampling, 0 to 1 (None: not sent).").tag(
        config=True
    )
    max_tokens = Int(None, allow_none=True, help="Answer length limit (None: not sent).").tag(
        config=True
    )
    system_prompt = Unicode("", help="System prompt of new conversations.").tag(config=True)
    api = Enum(
        ["chat", "responses"],
        "chat",
        help="The API chat cells speak: chat (Chat Completions, which every OpenAI-compatible "
        "server offers) or responses (OpenAI's Responses API: reasoning effort and summaries).",
    ).tag(config=True)
    reasoning = Enum(
        [None, *arguments.REASONING_EFFORTS],
        None,
        allow_none=True,
        help="Reasoning effort for reasoning models with api = 'responses' (None: not sent).",
    ).tag(config=True)
    tools = Bool(
        False,
        help="Let the model call read-only data tools in every %%gpt cell (like --tools): list "
        "the kernel's variables, describe one, show rows, count values, read the last error.",
    ).tag(config=True)
    provider = Enum(
        PROVIDER_NAMES,
        "auto",
        help="Where the client comes from: openai (any OpenAI-compatible server), azure "
        "(Azure OpenAI: AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION, AZURE_OPENAI_API_KEY; the "
        "model names the deployment), or auto (azure when the base URL is an Azure host).",
    ).tag(config=True)
    api_version = Unicode(
        "", help="Azure OpenAI api-version (empty: OPENAI_API_VERSION, or the base URL's)."
    ).tag(config=True)
    base_url = Unicode(
        "",
        help="API base URL, e.g. http://localhost:11434/v1 for Ollama "
        "(empty: OPENAI_BASE_URL, else https://api.openai.com/v1).",
    ).tag(config=True)
    proxy = Unicode(
        "",
        help="HTTP(S) proxy for API traffic, e.g. http://127.0.0.1:1080 "
        "(empty: HTTPS_PROXY / HTTP_PROXY from the environment).",
    ).tag(config=True)
    image_model = Unicode("gpt-image-1", help="Model for %gptimage.").tag(config=True)
    image_size = Unicode("1024x1024", help="Default %gptimage size, WIDTHxHEIGHT.").tag(config=True)
    image_max_bytes = Int(
        50_000_000,
        help="Largest image %gptimage accepts, in bytes (50 MB): a bigger download is stopped.",
    ).tag(config=True)
    timeout = Float(
        60.0,
        help="Seconds to wait for the server (also between stream chunks); "
        "the longest an image download may take in all.",
    ).tag(config=True)
    max_retries = Int(2, help="Retries for 429, 5xx, timeouts and connection errors.").tag(
        config=True
    )
    stream = Bool(True, help="Stream answers into the cell as they are written.").tag(config=True)
    history_max_tokens = Int(
        8000,
        allow_none=True,
        help="Token budget of the history sent; older turns are dropped, with a notice.",
    ).tag(config=True)
    token_budget = Int(
        None,
        allow_none=True,
        help="Refuse requests once the kernel's usage reaches this many tokens (reported, "
        "plus estimates for answers cut short; replays do not count).",
    ).tag(config=True)
    show_usage = Bool(True, help="Show a line of token usage under each answer.").tag(config=True)
    display = Enum(
        ["auto", "markdown", "text"],
        "auto",
        help="How answers stream: Markdown updated in place (notebooks), plain text "
        "(terminals, jupyter console), or auto (chosen per cell from the frontend).",
    ).tag(config=True)
    context_rows = Int(5, help="Rows of a DataFrame shown when a prompt says {df}.").tag(
        config=True
    )
    context_stats = Bool(
        False, help="Add summary statistics (from at most 10,000 sampled rows) to {df}."
    ).tag(config=True)
    context_max_chars = Int(
        4000, help="Longest rendering of a plain value or string in a prompt ({name})."
    ).tag(config=True)
    image_prompt_max_side = Int(
        2048,
        help="Longest side, in pixels, of an image sent in a prompt ({fig}); a bigger one is "
        "rendered at a lower dpi or scaled down.",
    ).tag(config=True)
    image_prompt_max_bytes = Int(
        5_000_000,
        help="Largest image sent in a prompt ({fig}), in bytes before base64 (5 MB); a bigger "
        "one is scaled down or sent as JPEG.",
    ).tag(config=True)
    cache = Unicode(
        help="Replay cache: a JSON-lines file of recorded answers, e.g. "
        "analysis.gptcache.jsonl next to the notebook (default: GPTMAGIC_CACHE; empty: none).",
    ).tag(config=True)
    cache_mode = Enum(
        CACHE_MODES,
        help="How the cache is used: record (serve recorded answers, record new ones), replay "
        "(never call the API; a missing answer is an error), off (default: GPTMAGIC_CACHE_MODE, "
        "else record).",
    ).tag(config=True)

    @default("cache")
    def _cache_from_env(self):
        return os.environ.get(CACHE_ENV, "")

    @default("cache_mode")
    def _cache_mode_from_env(self):
        return default_cache_mode()

    def endpoint(self) -> Endpoint:
        """Where requests go now (base URL, proxy, timeout), from the traits and environment."""
        from .client import Endpoint

        return Endpoint.resolve(
            self.base_url, self.proxy, self.timeout, self.provider, self.api_version
        )

    @classmethod
    def class_get_trait_help(cls, trait: Any, inst: Any = None, helptext: Any = None) -> str:
        """As traitlets writes it, without a URL's ``user:password@`` in the current value:
        ``%config GPTMagic`` prints every trait into the notebook, and a proxy or base URL
        set in ``ipython_config.py`` must not reach a saved notebook that way."""
        from .errors import redact

        return redact(super().class_get_trait_help(trait, inst, helptext), [])

    def snapshot(self) -> Any:
        """Every setting's current value, frozen (a :class:`Snapshot`): what one cell runs with."""
        return snapshot_class()(**{name: getattr(self, name) for name in SETTING_NAMES})

    # -- validation: a bad %config value is refused with a clear message -----------------
    @validate("temperature")
    def _check_temperature(self, proposal):
        return _in_range("temperature", proposal["value"], 0.0, 2.0)

    @validate("top_p")
    def _check_top_p(self, proposal):
        return _in_range("top_p", proposal["value"], 0.0, 1.0)

    @validate(
        "max_tokens",
        "history_max_tokens",
        "token_budget",
        "context_rows",
        "context_max_chars",
        "image_prompt_max_side",
        "image_prompt_max_bytes",
    )
    def _check_positive(self, proposal):
        value = proposal["value"]
        if value is not None and value <= 0:
            raise TraitError(f"GPTMagic.{proposal['trait'].name} must be > 0 (or None)")
        return value

    @validate("timeout")
    def _check_timeout(self, proposal):
        value = proposal["value"]
        if not (math.isfinite(value) and value > 0):  # nan or inf would break every request
            raise TraitError(f"GPTMagic.timeout must be a finite number > 0 (seconds), got {value}")
        return value

    @validate("image_max_bytes")
    def _check_image_max_bytes(self, proposal):
        if proposal["value"] <= 0:
            raise TraitError("GPTMagic.image_max_bytes must be > 0 bytes")
        return proposal["value"]

    @validate("max_retries")
    def _check_retries(self, proposal):
        if proposal["value"] < 0:
            raise TraitError("GPTMagic.max_retries must be >= 0")
        return proposal["value"]

    @validate("base_url", "proxy")
    def _hide_credentials_when_shown(self, proposal):
        from .errors import masked_query

        value = proposal["value"]
        hidden = "@" in value or masked_query(value) != value  # user:password@, ?key=
        return CredentialedURL(value) if hidden else value

    @validate("image_size")
    def _check_size(self, proposal):
        if not arguments.SIZE.match(proposal["value"]):
            raise TraitError("GPTMagic.image_size must look like 1024x1024 (or be auto)")
        return proposal["value"]


def _in_range(name: str, value: float | None, low: float, high: float) -> float | None:
    if value is not None and not low <= value <= high:
        raise TraitError(f"GPTMagic.{name} must be between {low:g} and {high:g}, got {value}")
    return value


SETTING_NAMES = tuple(sorted(Settings.class_trait_names(config=True)))


@functools.cache
def snapshot_class() -> type:
    """:class:`Snapshot`, a frozen dataclass with an attribute per setting. Built on the first
    cell, not at ``%load_ext``: generating its methods for every trait takes about 3 ms."""
    snapshot = make_dataclass("Snapshot", [(name, Any) for name in SETTING_NAMES], frozen=True)
    snapshot.__module__ = __name__
    dataclass_repr = snapshot.__repr__

    def repr_without_credentials(self: Any) -> str:
        """A verbose traceback shows this: never a base URL's or proxy's ``user:password@``."""
        from .errors import redact

        return redact(dataclass_repr(self), [])

    snapshot.__repr__ = repr_without_credentials
    return snapshot


def __getattr__(name: str) -> Any:
    """``settings.Snapshot`` builds the class on first access (see :func:`snapshot_class`)."""
    if name == "Snapshot":
        return snapshot_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class CellContext:
    """What one cell runs with: its settings, the kernel's session and shell, the endpoint."""

    settings: Any  # a Snapshot
    session: KernelSession
    shell: Any
    endpoint: Endpoint
