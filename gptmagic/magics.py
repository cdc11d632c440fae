"""The ``GPTMagic`` class: the magics and, as traits, the kernel's configuration.

Like IPython's ``StoreMagics`` and jupysql's ``SqlMagic``, the Magics object is the
``Configurable``: ``%config GPTMagic.model = "..."``, ``c.GPTMagic.model`` in
``ipython_config.py`` and the panel all set these traits. The API key is deliberately not a
trait (``%config GPTMagic`` prints every trait; see apikey.py).
"""

from __future__ import annotations

import math

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments
from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, default, observe, validate

from . import arguments
from .errors import GPTMagicError, one_line_errors
from .session import KernelSession, session_for

CACHE_MODES = ("off", "record", "replay")


@magics_class
class GPTMagic(Magics):
    """Chat with OpenAI-compatible models from IPython and Jupyter."""

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
    provider = Enum(
        ["auto", "openai", "azure"],
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

    # The cache module (hashing, file locking) loads only when a cell uses it, not here.
    @default("cache")
    def _cache_from_env(self):
        from .cache import default_path

        return default_path()

    @default("cache_mode")
    def _cache_mode_from_env(self):
        from .cache import default_mode

        return default_mode()

    def __init__(self, shell=None, **kwargs):
        self._ready = False  # config is applied inside __init__; see _system_changed
        self.session: KernelSession = session_for(shell)
        super().__init__(shell=shell, **kwargs)
        if not self.session.conversation.turns and not self.session.conversation.system:
            self.session.conversation.system = self.system_prompt
        self._ready = True

    def endpoint(self):
        """Where requests go now (base URL, proxy, timeout), from the traits and environment."""
        from .client import Endpoint

        return Endpoint.resolve(
            self.base_url, self.proxy, self.timeout, self.provider, self.api_version
        )

    # -- validation: a bad %config value is refused with a clear message -----------------
    @validate("temperature")
    def _check_temperature(self, proposal):
        return _in_range("temperature", proposal["value"], 0.0, 2.0)

    @validate("top_p")
    def _check_top_p(self, proposal):
        return _in_range("top_p", proposal["value"], 0.0, 1.0)

    @validate(
        "max_tokens", "history_max_tokens", "token_budget", "context_rows", "context_max_chars"
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

    @validate("image_size")
    def _check_size(self, proposal):
        if not arguments.SIZE.match(proposal["value"]):
            raise TraitError("GPTMagic.image_size must look like 1024x1024 (or be auto)")
        return proposal["value"]

    @observe("system_prompt")
    def _system_changed(self, change):
        # Only a change made while the kernel runs: a reload re-applying the config must not
        # overwrite a system prompt set since with -s.
        if self._ready:
            self.session.conversation.system = change["new"]

    # -- magics -------------------------------------------------------------------------
    @cell_magic("gpt")
    @no_var_expand
    @one_line_errors
    @magic_arguments(name="%gpt")
    @arguments.chat_options
    def gpt_cell(self, line, cell):
        """Send the cell as a prompt in this kernel's conversation; stream the answer.

        The options apply to this cell only (except -s, which changes the conversation's
        system prompt, and --new, which starts a new one, both once the answer arrives).
        Kernel defaults: %config GPTMagic.

        {name} in the prompt and in -s TEXT (outside code) is replaced by that variable,
        DataFrames as shape, dtypes and first rows; {df.columns}, {In[3]} work; {_error} is
        the last exception; {{ and }} are literal braces. Nothing is evaluated: IPython's own
        $name / {expression} expansion of the magic line is switched off.
        """
        from .chat import CellRequest, ChatCell
        from .codecells import ask_for_code
        from .context import interpolate_cell

        args = arguments.parse(self.gpt_cell, line)
        prompt = cell.strip()
        if not prompt:
            raise GPTMagicError("The prompt is empty: write it in the cell below %%gpt.")
        prompt = interpolate_cell(self, prompt)  # {name} -> value; before anything is sent
        if args.system is not None:
            args.system = interpolate_cell(self, args.system)  # same rules as the body
        if args.code:
            prompt = ask_for_code(prompt)
        ChatCell(self, CellRequest.from_args(self, args, prompt)).run()

    @line_magic("gpt")
    @no_var_expand
    @one_line_errors
    def gpt_line(self, line):
        """%gpt [SUBCOMMAND] [options]: status and conversation tools.

        Subcommands: (none) one line of status; reset; history; panel (settings widgets);
        models; usage [--reset]; save PATH; load PATH (.json, .md, .ipynb); key (type the
        API key, hidden).
        Use %%gpt (two %) to chat.
        """
        from .commands import run_subcommand

        return run_subcommand(self, line)

    @line_magic("gptimage")
    @no_var_expand
    @one_line_errors
    @magic_arguments(name="gptimage")
    @arguments.image_options
    def gptimage_line(self, line):
        """%gptimage [options] PROMPT: generate image(s) and show them inline.

        The prompt is the rest of the line after the options; {name} in it is replaced as in
        a %%gpt body (nothing is evaluated). Kernel defaults: GPTMagic.image_model,
        GPTMagic.image_size. For a long prompt use %%gptimage.
        """
        from .context import interpolate_cell
        from .images import ImageCell, ImageRequest, split_line

        options, prompt = split_line(line)
        args = self.gptimage_line.parser.parse_args(options)
        prompt = interpolate_cell(self, prompt)
        ImageCell(self, ImageRequest.from_args(self, args, prompt)).run()

    @cell_magic("gptimage")
    @no_var_expand
    @one_line_errors
    @magic_arguments(name="gptimage")
    @arguments.image_options
    def gptimage_cell(self, line, cell):
        """%%gptimage [options], then the prompt in the cell: generate image(s), show them inline.

        {name} in the prompt is replaced as in a %%gpt body. Kernel defaults:
        GPTMagic.image_model, GPTMagic.image_size.
        """
        from .context import interpolate_cell
        from .images import ImageCell, ImageRequest

        args = arguments.parse(self.gptimage_cell, line)
        prompt = interpolate_cell(self, cell)
        ImageCell(self, ImageRequest.from_args(self, args, prompt)).run()


def _in_range(name: str, value: float | None, low: float, high: float) -> float | None:
    if value is not None and not low <= value <= high:
        raise TraitError(f"GPTMagic.{name} must be between {low:g} and {high:g}, got {value}")
    return value
