"""The kernel's last exception, kept as short text for ``{_error}`` in prompts.

IPython's exception handling is left alone: a ``post_run_cell`` callback (see hooks.py) reads
``ExecutionResult.error_in_exec`` after each cell. The exception is formatted right away and
only the text is kept, so no frames (and the data they reference) stay alive. ``UsageError``s,
gptmagic's own included, are mistakes in a command line, not "the last exception".
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass
from types import TracebackType

from IPython.core import interactiveshell
from IPython.core.error import UsageError

TAIL_FRAMES = 4  # innermost frames kept (per exception in a chain)
MAX_CHARS = 3000
_SHELL_FILE = interactiveshell.__file__
_PACKAGES = re.compile(r'File "[^"\n]*?[/\\](site-packages|dist-packages)[/\\]')
# ipykernel compiles each cell to <tmp>/ipykernel_<pid>/<hash of its code>.py
_KERNEL_CELL = re.compile(r'File "[^"\n]*?[/\\]ipykernel_\d+[/\\](\d+)\.py"')


@dataclass(frozen=True)
class LastError:
    type_name: str
    message: str
    traceback: str  # the formatted tail, ending with "Type: message"
    execution_count: int | None = None

    def prompt_text(self, what: str = "The last exception in the kernel") -> str:
        """A headline (type and message), then the traceback tail as a code block."""
        where = f" (cell [{self.execution_count}])" if self.execution_count else ""
        message = self.message if len(self.message) <= 300 else self.message[:300] + "…"
        return f"{what}{where}: {self.type_name}: {message}\n\n```\n{self.traceback}\n```"


def from_exception(exc: BaseException, execution_count: int | None = None) -> LastError:
    """Type, message and the traceback's innermost frames, without IPython's own frames;
    paths shortened in the message as in the traceback (a FileNotFoundError names one)."""
    tb = _user_frames(exc.__traceback__)
    text = "".join(traceback.format_exception(type(exc), exc, tb, limit=-TAIL_FRAMES)).rstrip()
    text = _short_paths(text)
    if len(text) > MAX_CHARS:
        text = "…\n" + text[-MAX_CHARS:].split("\n", 1)[-1]
    return LastError(type(exc).__qualname__, _short_paths(str(exc)), text, execution_count)


def from_result(result) -> LastError | None:
    """The exception an ``ExecutionResult`` carries, unless it is a usage error (or none)."""
    exc = result.error_in_exec or result.error_before_exec
    if exc is None or isinstance(exc, UsageError):
        return None
    return from_exception(exc, result.execution_count)


def _short_paths(text: str) -> str:
    """Library paths from ``site-packages/`` on and the home folder as ``~``: fewer tokens,
    and the prompt does not carry the user's directory layout. A notebook cell's file is
    ``<cell HASH>`` (the hash of its code): the kernel's process id and temporary folder in
    its path would make the same prompt differ in every kernel, so it could never replay."""
    text = _PACKAGES.sub(r'File "…/\1/', text)
    text = _KERNEL_CELL.sub(r'File "<cell \1>"', text)
    home = os.path.expanduser("~")
    return text.replace(home + os.sep, "~" + os.sep) if len(home) > 1 else text


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Skip the frames of IPython's ``run_code`` that precede the cell's own code."""
    while tb is not None and tb.tb_frame.f_code.co_filename == _SHELL_FILE:
        tb = tb.tb_next
    return tb
