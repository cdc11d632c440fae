"""The backend interface: one API's wire format behind a small, testable surface.

A backend turns a cell's request and the conversation's messages into a request body, opens
it with the ``openai`` SDK, and yields :mod:`~gptmagic.backends.events`. It also says which
400 answers ask for an adaptation of the body (a parameter a model refuses). Retrying,
explaining errors, the display, the replay cache and provenance sit above this interface and
never look at a body's shape.

A *provider* is where the SDK client comes from (the OpenAI client, Azure's); an *API* is the
request shape (Chat Completions, Responses). Both are chosen per request.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Protocol

from .events import Event


class ChatParameters(Protocol):
    """What a backend reads of a cell's request (``chat.CellRequest`` satisfies it)."""

    model: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    n: int
    stream: bool
    reasoning: str | None
    tools: bool  # send the data tools' definitions (--tools)


class EventStream(Protocol):
    """An iterable of events that owns an HTTP response: always ``close()`` it."""

    def __iter__(self) -> Iterator[Event]: ...

    def close(self) -> None: ...


class Backend(ABC):
    """One API shape (Chat Completions, Responses)."""

    #: the value of ``GPTMagic.api`` that selects it
    name: ClassVar[str]
    #: the path the request is sent to, relative to the base URL (shown by ``--dry-run``)
    path: ClassVar[str]
    #: adaptation name -> what the cell says when a model asks for it
    explanations: ClassVar[dict[str, str]] = {}

    @abstractmethod
    def body(
        self, request: ChatParameters, messages: list[dict[str, Any]], adaptations: set[str]
    ) -> dict[str, Any]:
        """The request body for ``messages``: neutral ``{"role", "content"}`` dicts; an
        assistant step may carry ``tool_calls`` (``[{"id", "name", "arguments"}]``) and a
        ``tool`` message a ``tool_call_id``, which the backend puts in its API's shape."""

    @abstractmethod
    def open(self, sdk: Any, body: dict[str, Any]) -> EventStream | Iterable[Event]:
        """Send ``body``: an :class:`EventStream` when streaming, else all events at once.

        SDK exceptions propagate unchanged; the caller retries and explains them.
        """

    def adaptation_for(self, exc: BaseException, body: dict[str, Any]) -> str | None:
        """The adaptation a refused request asks for (matched by the error's fields), if any."""
        return None
