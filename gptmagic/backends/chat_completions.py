"""Chat Completions (``POST /chat/completions``): the request body, adapted to what each
model accepts, and the stream read into normalised events.

Newer OpenAI models refuse ``max_tokens`` (they want ``max_completion_tokens``) or a
non-default ``temperature``; some servers refuse ``stream_options``. When a 400 names the
offending parameter in its structured ``param`` field, the request is retried once in the
accepted form and the adaptation is remembered for that (host, model).

Every chunk is checked before it becomes an event: a chunk of the wrong shape, or bytes that
are not UTF-8, raise :class:`~gptmagic.backends.events.MalformedChunk` (the answer so far
stays usable).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from ..errors import GPTMagicError, error_field
from ..files import without_lone_surrogates
from ..usage import Usage
from .base import Backend, ChatParameters
from .events import Delta, Event, Finish, MalformedChunk, Reported, ToolCall
from .fields import checked, content_type, field_of, plain_stream, sent_whole, short, whole_json

RENAME_MAX_TOKENS = "max_completion_tokens"
DROP_TEMPERATURE = "drop_temperature"
DROP_TOP_P = "drop_top_p"
NO_STREAM_OPTIONS = "no_stream_options"

EXPLANATIONS = {
    RENAME_MAX_TOKENS: "does not accept max_tokens; sent max_completion_tokens instead",
    DROP_TEMPERATURE: "accepts only its default temperature; sent none",
    DROP_TOP_P: "accepts only its default top_p; sent none",
    NO_STREAM_OPTIONS: "does not accept stream_options; usage may not be reported",
}


def chat_body(
    *,
    model: str,
    messages: list[dict[str, str]],
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    n: int,
    stream: bool,
    adaptations: set[str],
    tools: bool = False,
) -> dict[str, Any]:
    """The Chat Completions body: only parameters the user set, in the accepted form."""
    body: dict[str, Any] = {"model": model, "messages": [chat_message(m) for m in messages]}
    if tools:
        from ..tools import chat_tools

        body["tools"] = chat_tools()
    if temperature is not None and DROP_TEMPERATURE not in adaptations:
        body["temperature"] = temperature
    if top_p is not None and DROP_TOP_P not in adaptations:
        body["top_p"] = top_p
    if max_tokens is not None:
        key = "max_completion_tokens" if RENAME_MAX_TOKENS in adaptations else "max_tokens"
        body[key] = max_tokens
    if n != 1:
        body["n"] = n
    if stream:
        body["stream"] = True
        if NO_STREAM_OPTIONS not in adaptations:
            body["stream_options"] = {"include_usage": True}
    return body


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """A neutral message in Chat Completions' shape: an assistant step's ``tool_calls`` as
    ``{"id", "type": "function", "function": {"name", "arguments"}}`` (content null when the
    step said nothing, as the API itself sends it); other messages as they are."""
    calls = message.get("tool_calls")
    if not calls:
        return message
    return {
        "role": "assistant",
        "content": message.get("content") or None,
        "tool_calls": [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for call in calls
        ],
    }


def adaptation_for(exc: BaseException, body: dict[str, Any]) -> str | None:
    """The adaptation a 400 asks for, if its ``param`` names one we can change."""
    import openai

    if not isinstance(exc, openai.BadRequestError):
        return None
    param = error_field(exc, "param")
    if param == "max_tokens" and "max_tokens" in body:
        return RENAME_MAX_TOKENS
    if param == "temperature" and "temperature" in body:
        return DROP_TEMPERATURE
    if param == "top_p" and "top_p" in body:
        return DROP_TOP_P
    if param in ("stream_options", "stream_options.include_usage") and "stream_options" in body:
        return NO_STREAM_OPTIONS
    return None


class ChatCompletions(Backend):
    """Requests to ``/chat/completions``; events from its chunks or its completion."""

    name = "chat"
    path = "/chat/completions"
    explanations: ClassVar[dict[str, str]] = EXPLANATIONS

    def body(
        self, request: ChatParameters, messages: list[dict[str, Any]], adaptations: set[str]
    ) -> dict[str, Any]:
        """The body; a reasoning effort is refused, not dropped (it would stay in provenance)."""
        if request.reasoning:
            raise GPTMagicError(
                "A reasoning effort (--reasoning or GPTMagic.reasoning) is sent only with "
                "GPTMagic.api = 'responses'; set that, or leave the effort out for chat."
            )
        return chat_body(
            model=request.model,
            messages=messages,
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            n=request.n,
            stream=request.stream,
            adaptations=adaptations,
            tools=request.tools,
        )

    def open(self, sdk: Any, body: dict[str, Any]) -> ChatStream | list[Event]:
        """Send a chat request; a stream for ``stream=True`` bodies, else all events at once
        (also when a server ignores ``stream`` and sends the whole completion)."""
        from ..client import parsed

        n, stream = body.get("n") or 1, bool(body.get("stream"))
        raw = sdk.chat.completions.with_raw_response.create(**body)
        if stream and sent_whole(raw):
            return completion_events(whole_json(raw), n)
        if stream:
            return ChatStream(parsed(raw, to=plain_stream()), n)
        return completion_events(parsed(raw), n)

    def adaptation_for(self, exc: BaseException, body: dict[str, Any]) -> str | None:
        return adaptation_for(exc, body)


REPLACEMENT = "\ufffd"
_HIGH, _LOW = range(0xD800, 0xDC00), range(0xDC00, 0xE000)


def _choices(chunk: Any) -> list[Any]:
    choices = field_of(chunk, "choices")
    if choices is None:
        return []
    if not isinstance(choices, list):
        raise MalformedChunk(f"'choices' is {short(choices)}, not a list")
    return choices


def read_choice(choice: Any, part: str, n: int) -> tuple[int, str | None, str | None]:
    """(index, text, finish reason) of one choice; ``part`` is ``delta`` or ``message``."""
    index = checked(field_of(choice, "index"), "index", int)
    if index is None or not 0 <= index < n:
        raise MalformedChunk(f"'index' is {short(index)}, not an answer number below n = {n}")
    body = field_of(choice, part)
    content = None if body is None else checked(field_of(body, "content"), "content", str)
    reason = checked(field_of(choice, "finish_reason"), "finish_reason", str)
    return index, content, None if reason is None else finish_reason(reason)


#: the finish reasons of Chat Completions as OpenAI names them
_CANONICAL = {"stop", "length", "content_filter", "tool_calls", "function_call"}
#: other servers' names for them (TGI: eos_token, stop_sequence; gateways in front of
#: Anthropic-style APIs: end_turn, max_tokens; Mistral: model_length; Vertex AI: STOP,
#: MAX_TOKENS, SAFETY in capitals), so an answer cut short is told as cut whoever served it
_SYNONYMS = {
    "eos_token": "stop",
    "eos": "stop",
    "stop_sequence": "stop",
    "end_turn": "stop",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_length": "length",
    "safety": "content_filter",
}


def finish_reason(sent: str) -> str:
    """A server's finish reason as Chat Completions names it; one gptmagic does not know
    stays as sent (the output then says the answer may be cut short)."""
    low = sent.lower()
    return _SYNONYMS.get(low, low if low in _CANONICAL else sent)


def read_tool_calls(choice: Any, part: str) -> list[tuple[int, str | None, str | None, str]]:
    """(number, id, name, arguments) of each tool call in a choice's ``delta`` or ``message``.

    A stream sends a call in pieces: its ``index``, ``id`` and name first, then the
    arguments' text; a whole message has no ``index`` (its position is the number).
    """
    body = field_of(choice, part)
    calls = None if body is None else field_of(body, "tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise MalformedChunk(f"'tool_calls' is {short(calls)}, not a list")
    found = []
    for position, call in enumerate(calls):
        number = checked(field_of(call, "index"), "index", int)
        function = field_of(call, "function")
        name = None if function is None else checked(field_of(function, "name"), "name", str)
        arguments = None if function is None else field_of(function, "arguments")
        if isinstance(arguments, dict):  # TGI sends the object, not OpenAI's JSON text
            arguments = json.dumps(arguments, ensure_ascii=False)
        found.append(
            (
                position if number is None else number,
                checked(field_of(call, "id"), "id", str),
                name,
                checked(arguments, "arguments", str) or "",
            )
        )
    return found


def read_usage(chunk: Any) -> Reported | None:
    """The usage a chunk (or completion) reports; an unreadable one is ignored, with a note."""
    raw, model = field_of(chunk, "usage"), field_of(chunk, "model")
    model = model if isinstance(model, str) else None
    if raw is None:
        return None
    try:
        usage = Usage.from_api(raw) if not isinstance(raw, (str, int, float, list)) else None
    except (TypeError, ValueError, OverflowError):
        usage = None
    if usage is None:
        note = "The server's usage report could not be read (not token counts); it was ignored."
        return Reported(None, model, note)
    return Reported(usage, model)


class ChatStream:
    """Iterates the events of one streamed answer and always closes its HTTP response.

    Every chunk is checked before it becomes an event: a chunk of the wrong shape, or bytes
    that are not UTF-8, raise :class:`MalformedChunk` (the answer so far stays usable). An
    emoji whose two UTF-16 halves arrive in different chunks is joined again; a half that
    stays alone becomes U+FFFD.
    """

    def __init__(self, sdk_stream: Any, n: int = 1):
        self._stream, self._n = sdk_stream, n
        self._high: dict[int, str] = {}  # per answer: a high surrogate waiting for its pair
        self._calls: dict[int, dict[int, list[str]]] = {}  # answer -> call -> id, name, args

    @property
    def content_type(self) -> str:
        return content_type(self._stream)

    def __iter__(self) -> Iterator[Event]:
        chunks = iter(self._stream)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                raise MalformedChunk(f"bytes that are not UTF-8 ({exc.reason})") from None
            yield from self._events(chunk)
        for index in sorted(self._high):
            yield Delta(index, REPLACEMENT)

    def _events(self, chunk: Any) -> Iterator[Event]:
        for choice in _choices(chunk):
            index, content, finish = read_choice(choice, "delta", self._n)
            if content and (text := self._joined(index, content)):
                yield Delta(index, text)
            for number, call_id, name, arguments in read_tool_calls(choice, "delta"):
                parts = self._calls.setdefault(index, {}).setdefault(number, ["", "", ""])
                parts[0], parts[1] = call_id or parts[0], parts[1] + (name or "")
                parts[2] += arguments or ""
            if finish:
                if self._high.pop(index, None):
                    yield Delta(index, REPLACEMENT)
                for call_id, name, arguments in self._calls.pop(index, {}).values():
                    yield ToolCall(index, call_id, name, arguments)
                yield Finish(index, finish)
        if reported := read_usage(chunk):
            yield reported

    def _joined(self, index: int, text: str) -> str:
        """``text`` with a surrogate pair split across two chunks joined again."""
        if held := self._high.pop(index, ""):
            text = (held if ord(text[0]) in _LOW else REPLACEMENT) + text
        if ord(text[-1]) in _HIGH:
            self._high[index], text = text[-1], text[:-1]
        return without_lone_surrogates(text)

    def close(self) -> None:
        self._stream.close()


def completion_events(completion: Any, n: int = 1) -> list[Event]:
    """The events of a non-streamed completion, in the order a stream would give them."""
    events: list[Event] = []
    for choice in _choices(completion):
        index, content, finish = read_choice(choice, "message", n)
        if content:
            events.append(Delta(index, without_lone_surrogates(content)))
        for _, call_id, name, arguments in read_tool_calls(choice, "message"):
            events.append(ToolCall(index, call_id or "", name or "", arguments or ""))
        events.append(Finish(index, finish or "stop"))
    if reported := read_usage(completion):
        events.append(reported)
    return events
