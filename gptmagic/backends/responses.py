"""The Responses API (``POST /responses``): OpenAI's newer request shape, with reasoning
effort, reasoning summaries and usage that counts reasoning tokens.

The conversation's system messages become ``instructions``, the others ``input`` items. A
stream is a sequence of typed events (``response.output_text.delta``, ...) instead of
choices; both are read into the same normalised events as Chat Completions. The API gives
one answer per request, so ``n`` > 1 is refused before anything is sent.

A stream that the server ends with ``response.failed`` or ``error`` raises
``openai.APIError`` (the class the SDK itself raises for an error inside a Chat Completions
stream) whose ``body`` holds the server's ``code`` and ``message``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from ..errors import GPTMagicError, error_field
from ..usage import Usage
from . import chat_completions
from .base import Backend, ChatParameters
from .events import (
    REASONING_BREAK,
    Delta,
    Event,
    Finish,
    MalformedChunk,
    Reasoning,
    Reported,
    ToolCall,
)
from .fields import checked, content_type, field_of, plain_stream, short

DROP_REASONING = "drop_reasoning"
NO_REASONING_SUMMARY = "no_reasoning_summary"

#: incomplete_details.reason -> the finish reason Chat Completions would give
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
#: stream events whose ``delta`` is answer text or reasoning
_TEXT = ("response.output_text.delta", "response.refusal.delta")
_REASONING = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
#: the end of one part of the reasoning (a summary often has several, each with its title)
_REASONING_DONE = ("response.reasoning_summary_text.done", "response.reasoning_text.done")


class Responses(Backend):
    """Requests to ``/responses``; events from its typed stream or its Response object."""

    name = "responses"
    path = "/responses"
    explanations: ClassVar[dict[str, str]] = {
        chat_completions.DROP_TEMPERATURE: chat_completions.EXPLANATIONS[
            chat_completions.DROP_TEMPERATURE
        ],
        chat_completions.DROP_TOP_P: chat_completions.EXPLANATIONS[chat_completions.DROP_TOP_P],
        DROP_REASONING: "does not take a reasoning effort; sent none",
        NO_REASONING_SUMMARY: "gives no reasoning summary here; asked for none",
    }

    def body(
        self, request: ChatParameters, messages: list[dict[str, Any]], adaptations: set[str]
    ) -> dict[str, Any]:
        """The Responses body: only parameters the user set, in the accepted form."""
        if request.n != 1:
            raise GPTMagicError(
                f"The Responses API gives one answer per request, so -n {request.n} cannot be "
                "sent with GPTMagic.api = 'responses'. Use -n 1, or GPTMagic.api = 'chat'."
            )
        body: dict[str, Any] = {"model": request.model}
        system = [_text(m["content"]) for m in messages if m["role"] == "system"]
        if system:
            body["instructions"] = "\n\n".join(system)
        body["input"] = [item for m in messages if m["role"] != "system" for item in _items(m)]
        if request.tools:
            from ..tools import responses_tools

            body["tools"] = responses_tools()
        if request.temperature is not None and chat_completions.DROP_TEMPERATURE not in adaptations:
            body["temperature"] = request.temperature
        if request.top_p is not None and chat_completions.DROP_TOP_P not in adaptations:
            body["top_p"] = request.top_p
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        if request.reasoning and DROP_REASONING not in adaptations:
            body["reasoning"] = {"effort": request.reasoning}
            if NO_REASONING_SUMMARY not in adaptations:
                body["reasoning"]["summary"] = "auto"
        if request.stream:
            body["stream"] = True
        return body

    def open(self, sdk: Any, body: dict[str, Any]) -> ResponseStream | list[Event]:
        from ..client import parsed

        raw = sdk.responses.with_raw_response.create(**body)
        if body.get("stream"):
            return ResponseStream(parsed(raw, to=plain_stream()))
        return response_events(parsed(raw), raw.http_request)

    def adaptation_for(self, exc: BaseException, body: dict[str, Any]) -> str | None:
        """Reasoning models refuse temperature/top_p; other models refuse ``reasoning``; some
        organisations may not have reasoning summaries. Matched by the 400's ``param``."""
        import openai

        if not isinstance(exc, openai.BadRequestError):
            return None
        param, reasoning = error_field(exc, "param") or "", body.get("reasoning") or {}
        if param == "reasoning.summary" and "summary" in reasoning:
            return NO_REASONING_SUMMARY
        if param.partition(".")[0] == "reasoning" and reasoning:
            return DROP_REASONING
        return chat_completions.adaptation_for(
            exc, body
        )  # temperature, top_p: nothing else applies


def _text(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def _items(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A neutral message as ``input`` items: an assistant step's tool calls become
    ``function_call`` items (after its text, if any), a tool result a
    ``function_call_output``."""
    if message["role"] == "tool":
        output = {"call_id": message["tool_call_id"], "output": message["content"]}
        return [{"type": "function_call_output", **output}]
    calls = message.get("tool_calls")
    if not calls:
        return [_input_item(message)]
    said = [_input_item(message)] if message.get("content") else []
    return said + [
        {"type": "function_call", "call_id": c["id"], "name": c["name"]}
        | {"arguments": c["arguments"]}
        for c in calls
    ]


def _input_item(message: dict[str, Any]) -> dict[str, Any]:
    """A neutral message as an ``input`` item; parts in Chat Completions' shape are mapped
    (``text`` -> ``input_text``/``output_text``, ``image_url`` -> ``input_image``)."""
    role, content = message["role"], message["content"]
    if isinstance(content, str):
        return {"role": role, "content": content}
    return {"role": role, "content": [_part(part, role) for part in content]}


def _part(part: dict[str, Any], role: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        kind = "output_text" if role == "assistant" else "input_text"
        return {"type": kind, "text": part["text"]}
    if kind == "image_url":
        image = part["image_url"]
        image = image if isinstance(image, dict) else {"url": image}
        item = {"type": "input_image", "image_url": image["url"]}
        return item | ({"detail": image["detail"]} if "detail" in image else {})
    raise GPTMagicError(f"A {kind!r} part cannot be sent through the Responses API.")


class ResponseStream:
    """Iterates the events of one streamed response and always closes its HTTP response.

    Events arrive as plain JSON (:func:`~gptmagic.backends.fields.plain_stream`); each field
    read is checked, so an event of the wrong shape raises ``MalformedChunk`` (the answer so
    far stays usable) as a Chat Completions chunk does.
    """

    def __init__(self, sdk_stream: Any):
        self._stream = sdk_stream

    @property
    def content_type(self) -> str:
        return content_type(self._stream)

    def __iter__(self) -> Iterator[Event]:
        reasoned = parted = False  # parted: a part ended, so the next starts after a break
        for event in self._stream:
            kind = field_of(event, "type")
            if kind in _TEXT:
                if delta := checked(field_of(event, "delta"), "delta", str):
                    yield Delta(0, delta)
            elif kind in _REASONING:
                if delta := checked(field_of(event, "delta"), "delta", str):
                    if parted:
                        yield Reasoning(0, REASONING_BREAK)
                    reasoned, parted = True, False
                    yield Reasoning(0, delta)
            elif kind in _REASONING_DONE:
                parted = reasoned
            elif kind == "response.output_item.done":
                item = field_of(event, "item")
                if field_of(item, "type") == "function_call":
                    yield _tool_call(item)
            elif kind in ("response.completed", "response.incomplete"):
                yield from _ending(field_of(event, "response"))
            elif kind == "response.failed":
                failed = field_of(event, "response")
                raise _failure(field_of(failed, "error"), self._stream.response.request)
            elif kind == "error":
                raise _failure(event, self._stream.response.request)

    def close(self) -> None:
        self._stream.close()


def response_events(response: Any, request: Any) -> list[Event]:
    """The events of a non-streamed Response, in the order a stream would give them
    (`request`: the HTTP request, for the error a failed response raises). An item or part of
    the wrong shape (a string where an object belongs) is a MalformedChunk, as in a stream."""
    if field_of(response, "status") == "failed":
        raise _failure(field_of(response, "error"), request)
    events: list[Event] = []
    for item in _listed(field_of(response, "output"), "output"):
        kind = field_of(item, "type")
        if kind == "reasoning":
            for part in _listed(field_of(item, "summary"), "summary"):
                text = checked(field_of(part, "text"), "text", str)
                if text and any(isinstance(event, Reasoning) for event in events):
                    events.append(Reasoning(0, REASONING_BREAK))
                if text:
                    events.append(Reasoning(0, text))
        elif kind == "message":
            for part in _listed(field_of(item, "content"), "content"):
                said = field_of(part, "text") or field_of(part, "refusal")
                if checked(said, "text", str):
                    events.append(Delta(0, said))
        elif kind == "function_call":
            events.append(_tool_call(item))
    return events + _ending(response)


def _listed(value: Any, name: str) -> list[Any]:
    """``value`` if it is a list, [] if absent, else MalformedChunk."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedChunk(f"{name!r} is {short(value)}, not a list")
    return value


def _tool_call(item: Any) -> ToolCall:
    call_id = checked(field_of(item, "call_id"), "call_id", str) or ""
    name = checked(field_of(item, "name"), "name", str) or ""
    return ToolCall(0, call_id, name, checked(field_of(item, "arguments"), "arguments", str) or "")


def _ending(response: Any) -> list[Event]:
    """Finish (``stop``, ``tool_calls``, ``length``, ...) and the usage, as for a chat answer."""
    status, output = field_of(response, "status"), field_of(response, "output") or []
    if not isinstance(output, list):
        raise MalformedChunk(f"'output' is {short(output)}, not a list")
    if status == "incomplete":
        details = field_of(response, "incomplete_details")
        reason = (details is not None and field_of(details, "reason")) or "incomplete"
        finish = _INCOMPLETE.get(checked(reason, "reason", str), reason)
    elif any(field_of(item, "type") == "function_call" for item in output):
        finish = "tool_calls"
    else:
        finish = "stop"
    events: list[Event] = [Finish(0, finish)]
    usage, model = Usage.from_api(field_of(response, "usage")), field_of(response, "model")
    if usage is not None:
        events.append(Reported(usage, model if isinstance(model, str) else None))
    return events


def _failure(error: Any, request: Any) -> Exception:
    """The server's in-stream failure as ``openai.APIError``; ``body`` carries its fields."""
    import openai

    fields = ("code", "message", "param", "type")
    body = {name: None if error is None else field_of(error, name) for name in fields}
    message = body["message"] or "The server ended the response with an error."
    return openai.APIError(message, request, body=body)
