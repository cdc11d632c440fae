"""The normalised events every backend yields, live or replayed.

The display, the usage ledger, the history and the replay cache consume only these, so a new
API (Responses, another provider) changes nothing above the backend package.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..usage import Usage


@dataclass
class Delta:
    """A piece of answer text for choice ``index``."""

    index: int
    text: str


@dataclass
class Finish:
    """Choice ``index`` ended; ``reason`` as the API says it (``stop``, ``length``, ...)."""

    index: int
    reason: str


@dataclass
class Reported:
    """The token usage the server reported for the whole request."""

    usage: Usage | None  # None: the server's usage report could not be read (see note)
    model: str | None = None
    note: str = ""


@dataclass
class ToolCall:
    """The model asks to call tool ``name`` with JSON ``arguments`` (complete, not a piece)."""

    index: int
    call_id: str
    name: str
    arguments: str


@dataclass
class Reasoning:
    """A piece of the model's reasoning summary (shown apart from the answer, never stored
    as answer text)."""

    index: int
    text: str


#: Reasoning text between two parts of a summary, or two tool rounds' summaries: each part
#: ends with a sentence and the next starts with a title, which must not run together.
REASONING_BREAK = "\n\n"

Event = Delta | Finish | Reported | ToolCall | Reasoning


class MalformedChunk(ValueError):
    """The server sent something that is not an answer (chunk) of its API; says what, in words."""
