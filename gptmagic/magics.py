"""The ``GPTMagic`` class: the magics, configured by the traits it inherits from
:class:`~gptmagic.settings.Settings` (``%config GPTMagic.x``, ``c.GPTMagic.x``).

Each magic parses its line, then hands the cell a :class:`~gptmagic.settings.CellContext`
(frozen settings, session, shell, endpoint): nothing below this module sees the magics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments
from traitlets import observe

from . import arguments
from .errors import GPTMagicError, one_line_errors
from .session import KernelSession, session_for
from .settings import CellContext, Settings

if TYPE_CHECKING:
    from .client import Endpoint


#: the ways of asking %gpt for its help besides %gpt?
HELP = ("-h", "--help", "help")


@magics_class
class GPTMagic(Magics, Settings):
    """Chat with OpenAI-compatible models from IPython and Jupyter."""

    def __init__(self, shell=None, **kwargs):
        self._ready = False  # config is applied inside __init__; see _system_changed
        self.session: KernelSession = session_for(shell)
        super().__init__(shell=shell, **kwargs)
        if self.system_prompt:  # seeds a fresh conversation; else it waits for the first cell
            conversation = self.session.conversation
            if not conversation.turns and not conversation.system:
                conversation.system = self.system_prompt
        self._ready = True

    def context(self) -> CellContext:
        """The frozen settings, session, shell and endpoint one cell runs with."""
        return CellContext(self.snapshot(), self.session, self.shell, self.endpoint())

    def endpoint(self) -> Endpoint:
        """Where requests go now; the passwords of its URLs become secrets (see apikey.py),
        masked wherever the key is: prompts, answers, tool results, the cache, messages."""
        from .apikey import remember_url_passwords

        endpoint = super().endpoint()
        remember_url_passwords(self.session, endpoint.base_url, endpoint.proxy)
        return endpoint

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
        the last exception; {{ and }} are literal braces; {fig} (a matplotlib Figure, a PIL
        image, PNG/JPEG bytes) sends the image to a vision model. Nothing is evaluated:
        IPython's own $name / {expression} expansion of the magic line is switched off.
        """
        from .chat import CellRequest, ChatCell
        from .codecells import ask_for_code
        from .context import interpolate_body, interpolate_cell

        args = arguments.parse(self.gpt_cell, line)
        prompt = cell.strip()
        if not prompt:
            raise GPTMagicError("The prompt is empty: write it in the cell below %%gpt.")
        ctx = self.context()
        # {name} -> value, {fig} -> an image part; before anything is sent
        calls: list[str] = []  # {df.head()}: left as typed, the answer's footer says so
        prompt, images = interpolate_body(ctx, prompt, calls)
        if args.system is not None:
            args.system = interpolate_cell(ctx, args.system)  # same rules, text only
        if args.code:
            prompt = ask_for_code(prompt)
        request = CellRequest.from_args(ctx.settings, args, prompt)
        request.images, request.calls_as_typed = images, calls
        ChatCell(ctx, request).run()

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
        if line.strip() in HELP:  # what %gpt? shows, not "Unknown subcommand '-h'"
            from inspect import cleandoc

            print(cleandoc(self.gpt_line.__doc__ or ""))
            return None
        from .commands import run_subcommand

        return run_subcommand(self.context(), line)

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
        ctx = self.context()
        prompt = interpolate_cell(ctx, prompt)
        ImageCell(ctx, ImageRequest.from_args(ctx.settings, args, prompt)).run()

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
        ctx = self.context()
        prompt = interpolate_cell(ctx, cell)
        ImageCell(ctx, ImageRequest.from_args(ctx.settings, args, prompt)).run()
