"""Reading what a server sent, as the SDK's models or as plain JSON, checked as it is read.

Streams are read as plain JSON (see :func:`plain_stream`): building the SDK's pydantic model
of every chunk costs about four fifths of the CPU the SDK's own streaming loop spends, and
gptmagic reads a handful of fields of each. Non-streamed answers and replayed ones may be
models or dicts, so every backend reads fields through :func:`field_of`, which accepts both;
a value of any other shape is a :class:`~gptmagic.backends.events.MalformedChunk`, never a
traceback from deep inside a backend.
"""

from __future__ import annotations

from typing import Any

from .events import MalformedChunk

_SDK_TYPES: set[type] = set()  # the SDK model classes seen: a set lookup per field, per chunk


def plain_stream() -> type:
    """The SDK stream class that yields each event's JSON as it is (``Stream[object]``).

    Passed to the SDK's documented ``with_raw_response … .parse(to=…)``: the SDK still
    sends the request (auth, retries, Azure's deployment URLs), decodes the SSE, stops at
    ``[DONE]`` and raises ``openai.APIError`` for an error event, as for its own streams.
    """
    global _PLAIN_STREAM
    if _PLAIN_STREAM is None:
        import openai

        class PlainStream(openai.Stream[object]):
            """``Stream[object]`` that also ends at an ``event: error`` of any shape."""

            def _iter_events(self) -> Any:
                for sse in super()._iter_events():
                    if sse.event == "error" and not read_elsewhere(sse.data):
                        raise error_event(sse.data, self.response.request)
                    yield sse

        _PLAIN_STREAM = PlainStream
    return _PLAIN_STREAM


_PLAIN_STREAM: type | None = None


def read_elsewhere(data: str) -> bool:
    """Whether an error event's data has a shape already raised on: ``{"error": ...}`` (the
    SDK) or a Responses ``{"type": "error", ...}`` event (responses.py)."""
    import json

    try:
        value = json.loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and (bool(value.get("error")) or value.get("type") == "error")


def error_event(data: str, request: Any) -> Exception:
    """An ``event: error`` the SDK lets through (``{"message": "overloaded"}``, a JSON string,
    plain text) as ``openai.APIError`` whose body is what the server sent, so the cell's
    line quotes its message (errors.server_message) instead of reading on as if nothing
    happened."""
    import json

    import openai

    try:
        body = json.loads(data)
    except ValueError:
        body = data
    text = " ".join(data.split())[:300] or "an error event with no message"
    return openai.APIError(text, request, body=body)


def sent_whole(raw: Any) -> bool:
    """Whether a streamed request was answered with one JSON document, not an event stream:
    some servers and gateways ignore ``stream``."""
    return raw.headers.get("content-type", "").startswith("application/json")


def whole_json(raw: Any) -> Any:
    """The JSON body of such an answer (MalformedChunk if it is not JSON)."""
    import json

    try:
        return json.loads(raw.http_response.read())
    except ValueError as exc:
        raise MalformedChunk(f"a JSON answer that is not JSON ({exc})") from None
    finally:
        raw.http_response.close()


def content_type(sdk_stream: Any) -> str:
    """The Content-Type a streamed answer came with ("" if none)."""
    response = getattr(sdk_stream, "response", None)
    return response.headers.get("content-type", "") if response is not None else ""


def field_of(obj: Any, name: str) -> Any:
    """A field of a JSON object or an SDK model; None if absent; MalformedChunk if ``obj`` is
    neither (a list, a string, a number where an object was expected)."""
    kind = type(obj)
    if kind is dict:
        return obj.get(name)
    if kind in _SDK_TYPES:
        return getattr(obj, name, None)
    if isinstance(obj, dict):
        return obj.get(name)
    import openai

    if isinstance(obj, openai.BaseModel):
        _SDK_TYPES.add(kind)
        return getattr(obj, name, None)
    raise MalformedChunk(f"{short(obj)} where an object was expected")


def short(value: Any) -> str:
    """``value``'s repr, at most 40 characters: enough to recognise it in a one-line error."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def checked(value: Any, name: str, kind: type) -> Any:
    """``value`` if it is None or a ``kind`` (a bool is no int), else MalformedChunk."""
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise MalformedChunk(f"{name!r} is {short(value)}, not {kind.__name__}")
