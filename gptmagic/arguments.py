"""Argument types and option groups shared by the magics.

IPython's ``magic_arguments`` parser turns a failing ``type=`` into a one-line ``UsageError``
naming the option, before anything is sent; these types give those lines a useful wording.
Options used by several magics are defined once here.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable

from IPython.core.magic_arguments import argument

SIZE = re.compile(r"^(auto|\d{2,5}x\d{2,5})$")  # "auto": gpt-image-1 picks


def number_in(low: float, high: float, kind: type = float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
        return value

    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def file_path(text: str) -> str:
    """A path a file can have (``~`` expandable, no NUL), refused before anything is sent."""
    from .files import user_path

    try:
        user_path(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


# IPython's own variables (its namespace, and the input/output caches it sets every cell):
# an answer stored there would break the kernel (In, Out, get_ipython) or be overwritten.
IPYTHON_NAMES = frozenset(
    {"In", "Out", "get_ipython", "exit", "quit", "open", "_ih", "_oh", "_dh", "_exit_code"}
)  # _exit_code: set by every !command
IPYTHON_CACHE = re.compile(r"_+|_i+|_i?\d+|__\w*__")


def identifier(text: str) -> str:
    """A variable ``-o NAME`` may set: a Python name, not a keyword, not IPython's own."""
    import keyword

    if not text.isidentifier() or keyword.iskeyword(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid Python variable name")
    if text in IPYTHON_NAMES or IPYTHON_CACHE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is IPython's own variable (storing the answer there would break or "
            "lose it); choose another name"
        )
    return text


def image_size(text: str) -> str:
    if not SIZE.match(text):
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 1024x1024 (or auto), got {text!r}"
        )
    return text


temperature = number_in(0.0, 2.0)
top_p = number_in(0.0, 1.0)


def stack(*decorators: Callable) -> Callable:
    """Apply several ``@argument`` decorators as one (so option groups are written once)."""

    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


model_option = argument(
    "-m",
    "--model",
    help="model for this cell (default: GPTMagic.model, or GPTMagic.image_model for images)",
)
out_option = argument(
    "-o", "--out", type=identifier, metavar="NAME", help="also store the result in variable NAME"
)

REASONING_EFFORTS = ("low", "medium", "high")

chat_options = stack(
    model_option,
    argument("-t", "--temperature", type=temperature, help="sampling temperature, 0 to 2"),
    argument("--top-p", type=top_p, help="nucleus sampling, 0 to 1"),
    argument("--max-tokens", type=positive_int, help="limit the answer's length in tokens"),
    argument(
        "--reasoning",
        choices=REASONING_EFFORTS,
        help="reasoning effort of a reasoning model (GPTMagic.api = 'responses')",
    ),
    argument("-n", type=positive_int, default=1, help="ask for N answers, shown one after another"),
    argument(
        "--tools",
        action="store_true",
        help="let the model read your variables with read-only data tools (GPTMagic.tools)",
    ),
    argument(
        "-s", "--system", help="replace the conversation's system prompt (until changed again)"
    ),
    argument("--new", action="store_true", help="start a fresh conversation before this prompt"),
    argument(
        "--no-history",
        action="store_true",
        help="send only the system prompt and this prompt; store nothing",
    ),
    out_option,
    argument(
        "--code",
        action="store_true",
        help="ask for Python code and put it in a new cell below (never run); also in _gpt_code",
    ),
    argument("--no-stream", action="store_true", help="wait for the whole answer"),
    argument("--dry-run", action="store_true", help="show the request that would be sent"),
)

# The values the SDK's ``images.generate`` accepts; which ones a model takes is the server's call.
IMAGE_QUALITIES = ("auto", "low", "medium", "high", "xhigh", "max", "standard", "hd")

# Every %gptimage option takes a value: images.split_line relies on it to find the prompt.
image_options = stack(
    model_option,
    argument(
        "--size",
        type=image_size,
        metavar="WxH",
        help="image size, e.g. 1536x1024 (default: GPTMagic.image_size)",
    ),
    argument("-n", type=positive_int, default=1, help="number of images"),
    argument(
        "--quality",
        choices=IMAGE_QUALITIES,
        metavar="Q",
        help="low, medium, high or auto (GPT image models); standard or hd (dall-e-3)",
    ),
    argument(
        "--save",
        type=file_path,
        metavar="PATH",
        help="save to PATH: a file for one image, a folder for several (never overwrites)",
    ),
    argument(
        "--partial",
        type=number_in(1, 3, int),
        metavar="N",
        help="stream: show up to N partial images while it is drawn (GPT image models)",
    ),
    out_option,
)


def parse(func: Callable, line: str) -> argparse.Namespace:
    """Parse a magic's line with shell quoting (``-s 'Be brief.'`` gives ``Be brief.``).

    ``parse_argstring`` splits without POSIX rules and keeps the quotes in values.
    """
    from .errors import GPTMagicError

    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise GPTMagicError(f"Cannot read the options: {exc} ({line.strip()!r}).") from None
    return func.parser.parse_args(argv)
