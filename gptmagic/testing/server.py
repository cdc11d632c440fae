"""A local OpenAI-compatible HTTP server for tests, benchmarks and demo runs.

It speaks real HTTP on 127.0.0.1 (real status codes, chunked SSE streams, dropped
connections) so that code under test goes through the genuine ``openai`` SDK and its
transport instead of mocks. Every request is recorded; replies can be scripted with
``enqueue(Reply(...))``, in-process or from another process via the ``/_control/*`` endpoints.

It serves Chat Completions, the Responses API (typed SSE events, a reasoning model
``o-reason``), image generation and model listing, at OpenAI's paths (``/v1/...``) and at
Azure OpenAI's (``/openai/deployments/{model}/...?api-version=`` with an ``api-key`` header).

Tool calling works on both text APIs: ``Reply(tool_calls=[{"name", "arguments"}])`` scripts
function calls (chat: ``delta.tool_calls`` pieces or ``message.tool_calls``, finish reason
``tool_calls``; responses: ``function_call`` items). Unscripted, a request that carries
``tools`` and ends with a user message gets one call: ``describe_variable`` of the first name
in backticks in that message (```sales```), else ``list_variables``; a request that ends
with a tool result is answered by quoting the result's first line. ``tools`` and the tool
messages are validated as OpenAI does, and the model ``no-tools`` refuses ``tools`` (400,
``param: "tools"``) like a model or server without function calling.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import re
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeOpenAI", "Recorded", "Reply"]

CHAT_MODELS = [
    "gpt-4o-mini", "gpt-4o", "gpt-4.1", "o-strict", "o-fixed-temp", "o-reason", "no-tools"
]  # fmt: skip
#: chat models without function calling: a request that sends ``tools`` gets 400 (param tools)
NO_TOOLS_MODELS = ("no-tools",)
_BACKTICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
#: models that reason: /v1/responses accepts ``reasoning`` for them and refuses temperature/top_p
REASONING_MODELS = ["o-reason"]
DEFAULT_MODELS = [*CHAT_MODELS, "gpt-image-1", "dall-e-3"]
IMAGE_SIZES = ("256x256", "512x512", "1024x1024", "1024x1536", "1536x1024")
#: chat models that accept image parts; any other refuses them as OpenAI's text-only models do
VISION_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"RIFF")
_TOKEN = re.compile(r"\s*\S+\s*|\s+")
_AZURE_DEPLOYMENT = re.compile(r"/openai/deployments/(?P<deployment>[^/]+)(?P<api>/.+)")
_LOREM = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed"]
_PARAGRAPH_WORDS = 60
_Plans = list[tuple[list[str], str]]  # per choice: the tokens to send and the finish reason
_REPLY_MODES = {
    "usage": ("auto", "never", "in_last_chunk"),
    "image_format": ("b64_json", "url"),
    "image_kind": ("png", "webp", "svg", "html"),
    "download": ("whole", "chunked", "drip"),
    "endpoint": ("chat", "images", "models", "responses"),
    "fail_event": ("response.failed", "error"),
}
_DEFAULT_ERRORS = {  # status -> (message, type, code) sent when a Reply gives no `error`
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "invalid_request_error", None),
    404: ("The requested resource was not found.", "invalid_request_error", "not_found"),
    429: ("Rate limit reached for requests. Try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@dataclass
class Reply:
    """A scripted answer for the next chat, responses, images or models request, with faults.

    The answer is `text` (a list of strings: the text in exactly these content chunks, e.g. a
    key split over several), else `tokens` lorem tokens, else the default answer. Faults count
    content chunks (for /v1/responses: text and reasoning-summary deltas). Streams honour every
    field; a non-streamed reply honours only `stall` (a delay) and `drop_after` (the connection
    closes without a response). A `status` other than 200 sends `error` (the whole JSON body,
    default OpenAI-style) with `headers`; a string `error` is sent as an HTML or text page with
    `status`, 200 included, as proxies and web servers do. For images, the request's
    ``response_format`` wins over `image_format`; `image_kind` says what the image bytes are (a
    PNG, a 1x1 WebP as some servers send, or a hostile SVG or an HTML page), `image_url`
    replaces the link a URL answer gives, and the download of that link can be `download_bytes`
    long (generated as it is sent, never held in memory), sent `whole` (with Content-Length),
    `chunked` (without), or as a `drip` of 16 bytes every `chunk_delay` (0.2 s by default).

    `raw_chunks` replaces a streamed chat or responses answer with exactly these SSE payloads,
    each sent as ``data: <payload>`` (bytes as given, so invalid UTF-8 can be sent; a str is
    UTF-8 encoded), paced by `chunk_delay`; nothing else is added (include ``"[DONE]"``). A
    ``(event, payload)`` pair is sent with an ``event: <event>`` line before its data.
    `raw_body` is the same for a non-streamed chat or responses answer: the exact body of a
    200 response.

    A /v1/responses request takes the oldest reply queued for ``responses`` or ``chat`` (a text
    answer scripts the same whichever API asks). There `finish_reason` "length" ends the
    response ``incomplete`` (``max_output_tokens``), another reason ``incomplete`` with that
    reason; `tool_calls` (``[{"name", "arguments"}]``, optionally an ``"id"``; else the
    server numbers them; ``arguments`` an object is sent as one, as some servers do) are
    function calls the model makes
    (after the text, if `text` or `tokens` is given, else instead of it); `fail_after` content
    chunks a stream ends with a `fail_event` (``response.failed`` or ``error``). A chat answer
    with `tool_calls` and `finish_reason` "length" was cut while writing them: the last
    call's arguments are sent cut in half.
    """

    text: str | list[str] | None = None
    tokens: int | None = None
    chunk_delay: float = 0.0
    status: int = 200
    error: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: str = "auto"
    ping: bool = False
    drop_after: int | None = None
    malformed_after: int | None = None
    stall: float | None = None
    ignore_n: bool = False
    ignore_stream: bool = False  # chat: answer a streamed request with one JSON completion
    finish_reason: str = "stop"
    revised_prompt: str | None = None
    image_format: str = "b64_json"
    image_kind: str = "png"
    image_url: str | None = None
    download: str = "whole"
    download_bytes: int | None = None
    endpoint: str = "chat"
    raw_chunks: list[str | bytes | tuple[str, str | bytes]] | None = None
    raw_body: str | bytes | None = None
    usage_body: dict[str, Any] | None = None  # sent as the chat usage instead of the counts
    tool_calls: list[dict[str, str]] | None = None
    fail_after: int | None = None
    fail_event: str = "response.failed"

    def __post_init__(self) -> None:
        """Reject typos early: a misspelt mode would otherwise silently test nothing."""
        for name, allowed in _REPLY_MODES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"Reply.{name} must be one of {allowed}: {getattr(self, name)!r}")


def _usage(reply: Reply, request: Any, completion_tokens: int) -> dict[str, Any]:
    """The chat usage reported: the true counts, or what the reply scripts instead."""
    return request.usage(completion_tokens) if reply.usage_body is None else reply.usage_body


@dataclass
class Recorded:
    """One request as the server received it (body is parsed JSON, or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float
    first_byte: float | None = None  # time.monotonic() of the first SSE event sent (bench/)
    query: dict[str, str] = field(default_factory=dict)  # e.g. Azure's api-version

    def to_json(self) -> dict[str, Any]:
        """Serialise for /_control/requests without leaking the caller's API key."""
        data = asdict(self)
        for name in ("authorization", "api-key"):
            if name in data["headers"]:
                data["headers"][name] = "<redacted>"
        return data


class _APIError(Exception):
    """An HTTP error answer: raised anywhere in a handler, sent by the dispatcher."""

    def __init__(
        self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
    ):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class _Drop(Exception):
    """Abandon the response and close the connection."""


def _error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _invalid(message: str, param: str | None = None, code: str | None = None) -> _APIError:
    return _APIError(400, _error_body(message, "invalid_request_error", param, code))


def _mask(key: str) -> str:
    """Mask like OpenAI does; short keys are hidden entirely so that nothing leaks."""
    return f"{key[:3]}***{key[-3:]}" if len(key) > 8 else "***"


def tokenize(text: str) -> list[str]:
    """Split into tokens (a word plus its following whitespace) that join back to `text`."""
    return _TOKEN.findall(text)


def lorem(tokens: int) -> str:
    """Deterministic Markdown of exactly `tokens` tokens, with a paragraph every 60 words."""
    words = []
    for i in range(tokens):
        word, position = _LOREM[i % len(_LOREM)], i % _PARAGRAPH_WORDS
        if position == 0:
            word = word.capitalize()
        elif position % 20 == 10:
            word = f"**{word}**"
        words.append(word + (".\n\n" if position == _PARAGRAPH_WORDS - 1 else " "))
    return "".join(words).rstrip()


def render_png(width: int, height: int, seed: int) -> bytes:
    """A real RGB PNG at full size: a vertical gradient crossed by 32 px stripes.

    Rows are built by repeating byte strings and compress to a few kB, so even 1536x1024
    renders in milliseconds.
    """
    top = (seed & 0xFF, seed >> 8 & 0xFF, seed >> 16 & 0xFF)
    rows = []
    for y in range(height):
        light = bytes(round(c + (255 - 2 * c) * y / max(height - 1, 1)) for c in top)
        dark = bytes(c * 3 // 4 for c in light)
        rows.append(b"\x00" + ((light * 32 + dark * 32) * (width // 64 + 1))[: width * 3])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [(b"IHDR", header), (b"IDAT", zlib.compress(b"".join(rows))), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in chunks
    )


SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b"<script>alert(document.domain)</script>"
    b'<rect width="64" height="64" fill="red"/></svg>'
)
HTML_PAGE = b"<!DOCTYPE html><html><body>Access denied</body></html>"
WEBP_PIXEL = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")  # 1x1, lossless


def image_bytes(kind: str, png: bytes) -> bytes:
    """What a reply of `image_kind` sends as the image: the PNG, a WebP, or something hostile."""
    return {"png": png, "webp": WEBP_PIXEL, "svg": SVG_WITH_SCRIPT, "html": HTML_PAGE}[kind]


def _padded(head: bytes, size: int, block: int) -> Iterator[memoryview]:
    """`size` bytes: `head`, then zeros, in pieces of at most `block` built as they are sent."""
    start = memoryview(head)[:size]
    for offset in range(0, len(start), block):
        yield start[offset : offset + block]
    zeros = memoryview(bytes(block))
    for offset in range(len(start), size, block):
        yield zeros[: min(block, size - offset)]


def _check_model(model: str, models: list[str]) -> None:
    if model not in models:
        message = f"The model `{model}` does not exist or you do not have access to it."
        raise _APIError(404, _error_body(message, "invalid_request_error", None, "model_not_found"))


def _check_object(body: Any) -> None:
    if not isinstance(body, dict):
        raise _invalid("We could not parse the JSON body of your request.")


def _positive_int(body: dict[str, Any], name: str, default: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(f"Invalid '{name}': expected an integer >= 1.", name, "invalid_value")
    return value


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _check_messages(messages: Any) -> None:
    if messages is None:
        message = "Missing required parameter: 'messages'."
        raise _invalid(message, "messages", "missing_required_parameter")
    valid = isinstance(messages, list) and messages
    if not valid or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
    ):
        message = "Invalid 'messages': expected a non-empty array of objects with a 'role'."
        raise _invalid(message, "messages", "invalid_value")


def _check_images(model: str, messages: list[dict[str, Any]]) -> None:
    """Image parts as OpenAI answers them: refused by a text-only model (param pointing at the
    part, no code); a data URL that holds no PNG/JPEG/GIF/WebP image refused as such."""
    for i, message in enumerate(messages):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            if model not in VISION_MODELS:
                text = "Invalid content type. image_url is only supported by certain models."
                raise _invalid(text, f"messages.[{i}].content.[{j}].type")
            url = (part.get("image_url") or {}).get("url")
            url = url if isinstance(url, str) else ""
            if url.startswith(("https://", "http://")):
                continue
            head, _, data = url.partition(";base64,")
            try:
                image = base64.b64decode(data[:24], validate=True)
            except ValueError:
                image = b""
            if not (head.startswith("data:image/") and image.startswith(_IMAGE_MAGIC)):
                text = (
                    "You uploaded an unsupported image. Please make sure your image has of one "
                    "the following formats: ['png', 'jpeg', 'gif', 'webp']."
                )
                raise _invalid(text, None, "invalid_image_format")


def _check_tools(model: str, tools: Any) -> bool:
    """``tools``: a list of function definitions with names; refused by a no-tools model.
    Chat Completions nests the definition in ``function``; the Responses API does not."""
    if tools is None:
        return False
    if model in NO_TOOLS_MODELS:
        message = "Unsupported parameter: 'tools' is not supported with this model."
        raise _invalid(message, "tools", "unsupported_parameter")
    if not isinstance(tools, list):
        raise _invalid("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    for i, tool in enumerate(tools):
        spec = tool.get("function", tool) if isinstance(tool, dict) else None
        name = spec.get("name") if isinstance(spec, dict) else None
        if tool.get("type") != "function" or not isinstance(name, str) or not name:
            message = f"Invalid 'tools[{i}]': expected a function with a name."
            raise _invalid(message, f"tools[{i}]", "invalid_value")
    return bool(tools)


def _check_tool_messages(messages: list[dict[str, Any]]) -> None:
    """Chat: each ``role: tool`` message answers a call of the assistant message before it,
    and every call of an assistant message is answered before the next other message."""
    waiting: set[str] = set()
    for i, message in enumerate(messages):
        if message["role"] == "tool":
            if message.get("tool_call_id") not in waiting:
                text = (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
                raise _invalid(text, f"messages.[{i}].role")
            waiting.discard(message["tool_call_id"])
            continue
        if waiting:
            text = (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(waiting))}"
            )
            raise _invalid(text, f"messages.[{i}].role")
        calls = message.get("tool_calls") if message["role"] == "assistant" else None
        waiting = {c.get("id") for c in calls or () if isinstance(c, dict)}


def _check_model_quirks(model: str, body: dict[str, Any]) -> None:
    """Reproduce the reasoning-model restrictions that clients must adapt to."""
    if model == "o-strict" and "max_tokens" in body:
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        raise _invalid(message, "max_tokens", "unsupported_parameter")
    temperature = body.get("temperature")
    if model == "o-fixed-temp" and temperature not in (None, 1):
        message = (
            f"Unsupported value: 'temperature' does not support {json.dumps(temperature)} "
            "with this model. Only the default (1) value is supported."
        )
        raise _invalid(message, "temperature", "unsupported_value")


@dataclass
class _TextRequest:
    """What shapes a text answer, whichever API asked (chat completions or responses)."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    limit: int | None
    n: int = 1
    tools: bool = False  # the request carries tool definitions

    def prompt_tokens(self) -> int:
        return sum(len(_message_text(m).split()) + 3 for m in self.messages)

    def said(self) -> str:
        """The last user message, as the answers quote it."""
        users = [_message_text(m) for m in self.messages if m["role"] == "user"]
        return " ".join(users[-1].split())[:200] if users else "nothing"

    def default_answer(self, number: int) -> str:
        """Markdown that proves the whole conversation reached the server (and, after a tool
        call, what the tool said)."""
        roles = Counter(m["role"] for m in self.messages)
        summary = ", ".join(f"{count} {role}" for role, count in roles.items())
        answer = (
            f"Answer {number} from {self.model}: you said *{self.said()}*. "
            f"I can see {len(self.messages)} messages ({summary})."
        )
        if self.messages[-1]["role"] == "tool":
            first = (_message_text(self.messages[-1]).strip().splitlines() or [""])[0]
            answer += f" The data tools say: {first}"
        users = [m for m in self.messages if m["role"] == "user"]
        if users and "```python" in _message_text(users[-1]):  # asked for code: give some
            answer += f'\n\n```python\nprint("code from answer {number}")\n```\n'
        return answer

    def tool_calls(self, reply: Reply) -> list[dict[str, str]]:
        """The calls the model makes: the scripted ones, else (a request with tools whose last
        message is the user's, and no scripted text) one call, as the module says."""
        if reply.tool_calls is not None:
            return reply.tool_calls
        if not self.tools or reply.text is not None or reply.tokens is not None:
            return []
        if self.messages[-1]["role"] != "user":
            return []
        named = _BACKTICKED.search(_message_text(self.messages[-1]))
        if named is None:
            return [{"name": "list_variables", "arguments": "{}"}]
        return [{"name": "describe_variable", "arguments": json.dumps({"name": named[1]})}]

    def answer_text(self, reply: Reply, number: int) -> str:
        if reply.text is not None:
            return reply.text if isinstance(reply.text, str) else "".join(reply.text)
        if reply.tokens is not None:
            return lorem(reply.tokens)
        return self.default_answer(number)

    def plan(self, text: str, reply: Reply) -> _Plans:
        """Tokens and finish reason per choice; choices after the first say which variant."""
        plans = []
        for index in range(1 if reply.ignore_n else self.n):
            tokens = tokenize(text + (f" (variant {index})" if index else ""))
            if isinstance(reply.text, list) and not index:
                tokens = list(reply.text)
            if self.limit is not None and len(tokens) > self.limit:
                plans.append((tokens[: self.limit], "length"))
            else:
                plans.append((tokens, reply.finish_reason))
        return plans


@dataclass
class _ChatRequest(_TextRequest):
    """The validated parts of a chat completion request that shape the answer."""

    include_usage: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)  # the answer's tool_calls

    @classmethod
    def parse(cls, body: Any, models: list[str]) -> _ChatRequest:
        """Validate like OpenAI does, raising 400/404 errors with OpenAI's wording."""
        _check_object(body)
        if not isinstance(body.get("model"), str):
            raise _invalid("you must provide a model parameter", "model")
        _check_messages(body.get("messages"))
        _check_model(body["model"], models)
        _check_model_quirks(body["model"], body)
        _check_images(body["model"], body["messages"])
        tools = _check_tools(body["model"], body.get("tools"))
        _check_tool_messages(body["messages"])
        stream_options = body.get("stream_options")
        if stream_options is not None and not body.get("stream"):
            message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            raise _invalid(message, "stream_options", "invalid_value")
        limit_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        return cls(
            model=body["model"],
            messages=body["messages"],
            stream=bool(body.get("stream")),
            include_usage=bool((stream_options or {}).get("include_usage")),
            n=_positive_int(body, "n", 1),
            limit=_positive_int(body, limit_name, None),
            tools=tools,
        )

    def usage(self, completion_tokens: int) -> dict[str, int]:
        prompt_tokens = self.prompt_tokens()
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }


_RESPONSES_PARAMETERS = frozenset(
    {
        "model", "input", "instructions", "stream", "stream_options", "temperature", "top_p",
        "max_output_tokens", "reasoning", "tools", "tool_choice", "parallel_tool_calls",
        "store", "previous_response_id", "metadata", "text", "include", "truncation", "user",
        "service_tier", "background", "prompt_cache_key", "safety_identifier", "max_tool_calls",
        "top_logprobs",
    }
)  # fmt: skip
_INPUT_ROLES = ("user", "assistant", "system", "developer")
_ASSISTANT_PARTS = ("output_text", "refusal")
_USER_PARTS = ("input_text", "input_image", "input_file")
_REASONING_TOKENS = {"minimal": 4, "low": 8, "medium": 20, "high": 48}  # effort -> tokens spent
_SUMMARIES = ("auto", "concise", "detailed")
_MIN_OUTPUT_TOKENS = 16
_IMAGE_URLS = ("data:image/", "https://", "http://")


def _supported(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    return ", ".join(quoted[:-1]) + f" and {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def _check_parts(parts: list[Any], role: str, where: str) -> None:
    """Content parts must suit the role (assistant: output_text; others: input_*)."""
    allowed = _ASSISTANT_PARTS if role == "assistant" else _USER_PARTS
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            message = f"Invalid value: '{kind}'. Supported values are: {_supported(allowed)}."
            raise _invalid(message, f"{where}.content[{j}]", "invalid_value")
        url = part.get("image_url")
        if kind == "input_image" and not (isinstance(url, str) and url.startswith(_IMAGE_URLS)):
            message = "Invalid 'image_url': expected a URL or a base64 data URL of an image."
            raise _invalid(message, f"{where}.content[{j}].image_url", "invalid_value")


def _input_message(item: Any, where: str) -> dict[str, Any]:
    """One ``input`` item, validated, as a chat-style message (tool items included)."""
    if not isinstance(item, dict):
        raise _invalid(f"Invalid '{where}': expected an object.", where, "invalid_type")
    kind = item.get("type", "message")
    if kind == "function_call":
        call = {"id": item.get("call_id"), "name": item.get("name")}
        text = f"{item.get('name')}({item.get('arguments')})"
        return {"role": "assistant", "content": text, "tool_calls": [call]}
    if kind == "function_call_output":
        return {
            "role": "tool",
            "content": str(item.get("output", "")),
            "call_id": item.get("call_id"),
        }
    role, content = item.get("role"), item.get("content")
    if kind != "message" or role not in _INPUT_ROLES:
        message = f"Invalid value: '{role}'. Supported values are: {_supported(_INPUT_ROLES)}."
        raise _invalid(message, f"{where}.role", "invalid_value")
    if isinstance(content, list):
        _check_parts(content, role, where)
    elif not isinstance(content, str):
        message = f"Invalid '{where}.content': expected a string or an array of content parts."
        raise _invalid(message, f"{where}.content", "invalid_type")
    return {"role": role, "content": content}


def _check_input_images(model: str, messages: list[dict[str, Any]]) -> None:
    """An ``input_image`` part refused by a text-only model, ``param`` pointing at it (one
    message per ``input`` item, so the indices are the request's)."""
    if model in VISION_MODELS:
        return
    for i, message in enumerate(messages):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            if isinstance(part, dict) and part.get("type") == "input_image":
                text = "Invalid content type. image_url is only supported by certain models."
                raise _invalid(text, f"input[{i}].content[{j}]")


def _input_messages(items: Any) -> list[dict[str, Any]]:
    """Validate ``input`` like the API does; read it as chat-style messages for the answer."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if items is None:
        message = "Missing required parameter: 'input'."
        raise _invalid(message, "input", "missing_required_parameter")
    if not isinstance(items, list) or not items:
        message = "Invalid 'input': expected a string or a non-empty array of input items."
        raise _invalid(message, "input", "invalid_type")
    messages = [_input_message(item, f"input[{i}]") for i, item in enumerate(items)]
    called: set[Any] = set()
    for i, message in enumerate(messages):
        called |= {call["id"] for call in message.get("tool_calls") or ()}
        if message["role"] == "tool" and message["call_id"] not in called:
            text = f"No tool call found for function call output with call_id {message['call_id']}."
            raise _invalid(text, f"input[{i}]", "invalid_value")
    return messages


def _check_range(body: dict[str, Any], name: str, top: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
        message = f"Invalid '{name}': expected a number from 0 to {top}."
        raise _invalid(message, name, "invalid_value")


def _check_choice(value: Any, allowed: Any, param: str) -> None:
    if value is not None and value not in allowed:
        message = f"Invalid value: '{value}'. Supported values are: {_supported(tuple(allowed))}."
        raise _invalid(message, param, "invalid_value")


def _reasoning(model: str, body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(effort, summary) of the request; effort is None for a model that does not reason.

    Reasoning models refuse ``temperature`` and ``top_p``; other models refuse ``reasoning``.
    """
    reasoning = body.get("reasoning") or {}
    if not isinstance(reasoning, dict):
        message = "Invalid type for 'reasoning': expected an object."
        raise _invalid(message, "reasoning", "invalid_type")
    thinks = model in REASONING_MODELS
    refused = ("temperature", "top_p") if thinks else ("reasoning.effort", "reasoning.summary")
    for name in refused:
        scope, _, key = name.rpartition(".")
        if (reasoning if scope else body).get(key) is not None:
            message = f"Unsupported parameter: '{name}' is not supported with this model."
            raise _invalid(message, name, "unsupported_parameter")
    _check_choice(reasoning.get("effort"), _REASONING_TOKENS, "reasoning.effort")
    _check_choice(reasoning.get("summary"), _SUMMARIES, "reasoning.summary")
    if not thinks:
        return None, None
    return reasoning.get("effort") or "medium", reasoning.get("summary")


@dataclass
class _ResponsesRequest(_TextRequest):
    """The validated parts of a /v1/responses request (``instructions`` is a system message;
    ``limit`` is what the reasoning left of ``max_output_tokens``)."""

    effort: str | None = None  # None: the model does not reason
    summary: str | None = None
    reasoning_tokens: int = 0
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the Response repeats

    @classmethod
    def parse(cls, body: Any, models: list[str]) -> _ResponsesRequest:
        """Validate like OpenAI does, raising 400/404 errors with OpenAI's wording."""
        _check_object(body)
        unknown = sorted(set(body) - _RESPONSES_PARAMETERS)
        if unknown:
            raise _invalid(f"Unknown parameter: '{unknown[0]}'.", unknown[0], "unknown_parameter")
        if not isinstance(body.get("model"), str):
            message = "Missing required parameter: 'model'."
            raise _invalid(message, "model", "missing_required_parameter")
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            message = "Invalid type for 'instructions': expected a string."
            raise _invalid(message, "instructions", "invalid_type")
        messages = _input_messages(body.get("input"))
        _check_model(body["model"], models)
        _check_input_images(body["model"], messages)
        tools = _check_tools(body["model"], body.get("tools"))
        _check_range(body, "temperature", 2)
        _check_range(body, "top_p", 1)
        effort, summary = _reasoning(body["model"], body)
        limit = _positive_int(body, "max_output_tokens", None)
        if limit is not None and limit < _MIN_OUTPUT_TOKENS:
            message = (
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
                f">= {_MIN_OUTPUT_TOKENS}, but got {limit} instead."
            )
            raise _invalid(message, "max_output_tokens", "integer_below_min_value")
        thinking = min(_REASONING_TOKENS[effort] if effort else 0, limit or 1 << 30)
        system = [{"role": "system", "content": instructions}] if instructions else []
        echoed = ("instructions", "max_output_tokens", "temperature", "top_p")
        return cls(
            model=body["model"],
            messages=system + messages,
            stream=bool(body.get("stream")),
            limit=None if limit is None else limit - thinking,
            effort=effort,
            summary=summary,
            reasoning_tokens=thinking,
            echo={name: body.get(name) for name in echoed},
            tools=tools,
        )


class _Response:
    """One /v1/responses answer: its output items (reasoning, message, function calls) and the
    Response object at any stage of the stream."""

    def __init__(self, request: _ResponsesRequest, reply: Reply, number: int):
        self.request, self.reply, self.number = request, reply, number
        [(self.tokens, finish)] = request.plan(request.answer_text(reply, number), reply)
        self.tool_calls = request.tool_calls(reply)
        self.speaks = not self.tool_calls or reply.text is not None or reply.tokens is not None
        self.status = "completed" if finish == "stop" else "incomplete"
        reason = "max_output_tokens" if finish == "length" else finish
        self.incomplete = None if finish == "stop" else {"reason": reason}
        summary = f"**Reading the question**\n\nThe user said *{request.said()}*; be brief."
        self.summary = tokenize(summary) if request.effort and request.summary else []

    def reasoning(self, summary: str) -> dict[str, Any]:
        parts = [{"type": "summary_text", "text": summary}] if summary else []
        return {"id": f"rs_fake{self.number}", "type": "reasoning", "summary": parts}

    def message(self, text: str | None) -> dict[str, Any]:
        """The message item: in progress and empty (None), else done with ``text``."""
        status = "in_progress" if text is None else self.status
        content = [] if text is None else [_output_text(text)]
        item = {"id": f"msg_fake{self.number}", "type": "message", "status": status}
        return {**item, "role": "assistant", "content": content}

    def calls(self) -> list[dict[str, Any]]:
        return [
            {
                "id": f"fc_fake{self.number}_{i}",
                "type": "function_call",
                "status": "completed",
                "call_id": call.get("id", f"call_fake{self.number}_{i}"),
                "name": call["name"],
                "arguments": call["arguments"],
            }
            for i, call in enumerate(self.tool_calls)
        ]

    def output(self) -> list[dict[str, Any]]:
        """Every output item, done."""
        items = [self.reasoning("".join(self.summary))] if self.request.effort else []
        if self.speaks:
            items.append(self.message("".join(self.tokens)))
        return items + self.calls()

    def usage(self) -> dict[str, Any] | None:
        if self.reply.usage == "never":
            return None
        prompt, thinking = self.request.prompt_tokens(), self.request.reasoning_tokens
        output = len(self.tokens) * self.speaks + thinking
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": thinking},
            "total_tokens": prompt + output,
        }

    def payload(self, status: str | None = None) -> dict[str, Any]:
        """The Response object: done (``status`` None), else as it stands at ``status``."""
        done = status is None
        request = self.request
        reasoning = {"effort": request.effort, "summary": request.summary}
        return {
            "id": f"resp_fake{self.number}",
            "object": "response",
            "created_at": int(time.time()),
            "status": self.status if done else status,
            "error": None,
            "incomplete_details": self.incomplete if done else None,
            "model": request.model,
            "output": self.output() if done else [],
            "parallel_tool_calls": True,
            "reasoning": reasoning if request.effort else None,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "usage": self.usage() if done else None,
            **request.echo,
        }


def _chat_calls(calls: list[dict[str, str]], number: int) -> list[dict[str, Any]]:
    """Scripted calls as a chat message's ``tool_calls`` (ids unique per answer)."""
    return [
        {
            "id": call.get("id", f"call_fake{number}_{i}"),
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }
        for i, call in enumerate(calls)
    ]


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


@dataclass
class _ImageRequest:
    """The validated parts of an image generation request."""

    prompt: str
    model: str
    width: int
    height: int
    n: int
    response_format: str | None
    stream: bool = False
    partials: int = 0

    @classmethod
    def parse(cls, body: Any, models: list[str]) -> _ImageRequest:
        _check_object(body)
        prompt, model = body.get("prompt"), body.get("model") or "gpt-image-1"
        if not isinstance(prompt, str) or not prompt:
            message = "Missing required parameter: 'prompt'."
            raise _invalid(message, "prompt", "missing_required_parameter")
        _check_model(model, models)
        size = body.get("size") or "auto"
        size = "1024x1024" if size == "auto" else size
        if size not in IMAGE_SIZES:
            message = f"Invalid size '{size}'. Supported values are: {', '.join(IMAGE_SIZES)}."
            raise _invalid(message, "size", "invalid_value")
        width, height = (int(side) for side in size.split("x"))
        n = _positive_int(body, "n", 1)
        partials = body.get("partial_images") or 0
        if partials not in (0, 1, 2, 3):
            message = "Invalid 'partial_images': expected an integer from 0 to 3."
            raise _invalid(message, "partial_images", "invalid_value")
        fmt, stream = body.get("response_format"), bool(body.get("stream"))
        return cls(prompt, model, width, height, n, fmt, stream, partials)

    def render(self, index: int) -> bytes:
        """Different prompts (and the images of one request) get different colours."""
        return render_png(self.width, self.height, zlib.crc32(self.prompt.encode()) + index)

    def default_revised_prompt(self) -> str | None:
        """dall-e-3 rewrites prompts; gpt-image models do not."""
        return f"A detailed picture of: {self.prompt}" if self.model == "dall-e-3" else None

    def usage(self, images: int) -> dict[str, Any]:
        words, output = len(self.prompt.split()), 272 * images
        return {
            "input_tokens": words,
            "input_tokens_details": {"text_tokens": words, "image_tokens": 0},
            "output_tokens": output,
            "total_tokens": words + output,
        }


def _chunk(
    base: dict[str, Any], index: int, delta: dict[str, Any], finish: str | None
) -> dict[str, Any]:
    choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {**base, "choices": [choice]}


def _event(payload: dict[str, Any], kind: str | None = None) -> bytes:
    """One SSE event; `kind` adds the ``event:`` line the Responses and Images APIs send."""
    head = f"event: {kind}\n" if kind else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()


class _Template:
    """An event pre-serialised around placeholders (``"\\0"``, ``"\\1"``, ... in the order they
    appear), so each token sent costs one tiny json.dumps per value."""

    _HOLE = re.compile(r'"\\u000[0-9]"')

    def __init__(self, payload: dict[str, Any], kind: str | None = None):
        self.parts = self._HOLE.split(_event(payload, kind).decode())

    def render(self, *values: Any) -> bytes:
        pieces = [self.parts[0]]
        for value, part in zip(values, self.parts[1:], strict=True):
            pieces += (json.dumps(value), part)
        return "".join(pieces).encode()


class _ResponseStream:
    """Sends one response's events in the API's order, numbered, with the scripted faults and
    pacing before each delta (reasoning summary and text) and before the final event."""

    def __init__(self, handler: _Handler, answer: _Response):
        self.handler, self.answer, self.reply = handler, answer, answer.reply
        self.sequence = 0
        self.sent = 0  # deltas sent, as the faults count them

    def send(self) -> None:
        answer = self.answer
        self.handler._begin_events(self.reply.headers)
        self.handler.recorded.first_byte = time.monotonic()
        self.event("response.created", response=answer.payload("in_progress"))
        self.event("response.in_progress", response=answer.payload("in_progress"))
        items = [self.reasoning] if answer.request.effort else []
        items += [self.message] if answer.speaks else []
        items += [functools.partial(self.call, call) for call in answer.calls()]
        for index, send_item in enumerate(items):
            send_item(index)
        self.gate()
        done = "response.completed" if answer.status == "completed" else "response.incomplete"
        self.event(done, response=answer.payload())
        self.handler.wfile.write(b"0\r\n\r\n")

    def event(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        self.handler._write(_event(payload, kind))

    def gate(self) -> None:
        """Before a delta or the final event: pacing, then a scripted drop or failure."""
        self.handler._between_chunks(self.reply, self.sent)
        if self.reply.fail_after == self.sent:
            self.fail()

    def deltas(self, kind: str, tokens: list[str], **where: Any) -> None:
        template = _Template({"type": kind, "sequence_number": "\0", **where, "delta": "\0"}, kind)
        for token in tokens:
            self.gate()
            self.handler._write(template.render(self.sequence, token))
            self.sequence += 1
            self.sent += 1
            self.handler.fake._progress(self.sent)

    def reasoning(self, index: int) -> None:
        answer, text = self.answer, "".join(self.answer.summary)
        item = answer.reasoning("")
        self.event("response.output_item.added", output_index=index, item=item)
        if text:
            where = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            part = {"type": "summary_text", "text": ""}
            self.event("response.reasoning_summary_part.added", **where, part=part)
            self.deltas("response.reasoning_summary_text.delta", answer.summary, **where)
            self.event("response.reasoning_summary_text.done", **where, text=text)
            self.event("response.reasoning_summary_part.done", **where, part={**part, "text": text})
        self.event("response.output_item.done", output_index=index, item=answer.reasoning(text))

    def message(self, index: int) -> None:
        answer, text = self.answer, "".join(self.answer.tokens)
        item = answer.message(None)
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        self.event("response.output_item.added", output_index=index, item=item)
        self.event("response.content_part.added", **where, part=_output_text(""))
        self.deltas("response.output_text.delta", answer.tokens, **where, logprobs=[])
        self.event("response.output_text.done", **where, text=text, logprobs=[])
        self.event("response.content_part.done", **where, part=_output_text(text))
        self.event("response.output_item.done", output_index=index, item=answer.message(text))

    def call(self, item: dict[str, Any], index: int) -> None:
        where, arguments = {"item_id": item["id"], "output_index": index}, item["arguments"]
        started = {**item, "status": "in_progress", "arguments": ""}
        self.event("response.output_item.added", output_index=index, item=started)
        self.event("response.function_call_arguments.delta", **where, delta=arguments)
        self.event("response.function_call_arguments.done", **where, arguments=arguments)
        self.event("response.output_item.done", output_index=index, item=item)

    def fail(self) -> None:
        """End the stream as the API does when the model fails mid-answer."""
        error = {"code": "server_error", "message": "The model failed to generate a response."}
        if self.reply.fail_event == "error":
            self.event("error", **error, param=None)
        else:
            failed = {**self.answer.payload("failed"), "error": error}
            self.event("response.failed", response=failed)
        self.handler.wfile.write(b"0\r\n\r\n")
        raise _Drop


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection; HTTP/1.1 for keep-alive and chunked event streams."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.fake = self.server.fake
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: access logs would clutter test output and notebook cells."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_GET

    def _dispatch(self) -> None:
        if self.fake.stopped:
            self.close_connection = True
            return
        url = urlsplit(self.path)
        path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._read_json()
        if not path.startswith("/_control/"):
            headers = {name.lower(): value for name, value in self.headers.items()}
            now = time.monotonic()
            self.recorded = Recorded(self.command, path, headers, body, now, query=query)
            self.fake._record(self.recorded)
        try:
            if path.startswith(("/v1/", "/openai/")):
                self._check_auth(path)
            self._route(path)(body)
        except _APIError as err:
            if isinstance(err.body, str):  # a proxy's or web server's page, not JSON
                kind = "text/html" if err.body.lstrip().startswith("<") else "text/plain"
                self._send(err.status, err.body.encode(), kind, err.headers)
            else:
                self._send_json(err.status, err.body, err.headers)
        except (_Drop, ConnectionError, TimeoutError):
            self.close_connection = True

    def _read_json(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _route(self, path: str) -> Any:
        if self.command == "GET" and path.startswith("/files/"):
            image_id = path.removeprefix("/files/").partition(".")[0]
            return lambda _body: self._file(image_id)
        if path.startswith("/openai/"):
            return self._azure_route(path)
        routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/responses"): self._responses,
            ("POST", "/v1/images/generations"): self._images,
            ("GET", "/v1/models"): self._models,
            ("POST", "/_control/enqueue"): self._control_enqueue,
            ("GET", "/_control/requests"): self._control_requests,
            ("POST", "/_control/reset"): self._control_reset,
        }
        if not self.fake.images:
            del routes[("POST", "/v1/images/generations")]
        route = routes.get((self.command, path))
        if route is None:
            return lambda _body: self._unknown_path(path)
        return route

    def _unknown_path(self, path: str) -> None:
        """404 in the configured style: OpenAI's JSON, or a bare server's text or HTML."""
        if self.fake.not_found == "text":  # Go's net/http (Ollama), many small servers
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8", {})
        elif self.fake.not_found == "html":  # nginx in front of a server
            page = b"<html><head><title>404 Not Found</title></head><body>"
            page += b"<center><h1>404 Not Found</h1></center><hr><center>nginx</center>"
            self._send(404, page + b"</body></html>\n", "text/html", {})
        else:
            message = f"Invalid URL ({self.command} {path})"
            raise _APIError(404, _error_body(message, "invalid_request_error"))

    def _azure_route(self, path: str) -> Any:
        """Azure OpenAI's paths: ``/openai/deployments/{name}/chat/completions`` (the deployment
        names the model) and ``/openai/responses`` want ``?api-version=``; ``/openai/v1/...``
        (Azure's v1 API) does not."""
        if path.startswith("/openai/v1/"):
            return self._route(path.removeprefix("/openai"))
        if "api-version" not in self.recorded.query:
            raise _APIError(404, {"error": {"code": "404", "message": "Resource not found"}})
        match = _AZURE_DEPLOYMENT.fullmatch(path)
        if match is None:
            return self._route("/v1" + path.removeprefix("/openai"))
        deployment, route = match["deployment"], self._route("/v1" + match["api"])
        if deployment not in self.fake.models:
            message = "The API deployment for this resource does not exist."
            raise _APIError(404, {"error": {"code": "DeploymentNotFound", "message": message}})
        return lambda body: route({**body, "model": deployment} if isinstance(body, dict) else body)

    def _check_auth(self, path: str) -> None:
        sent = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if path.startswith("/openai/"):  # Azure sends its key as api-key
            sent = self.headers.get("api-key", "").strip() or sent
        if self.fake.api_key is None or sent == self.fake.api_key:
            return
        if not sent:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            raise _APIError(401, _error_body(message, "invalid_request_error"))
        message = (
            f"Incorrect API key provided: {_mask(sent)}. "
            "You can find your API key at https://platform.openai.com/account/api-keys."
        )
        raise _APIError(401, _error_body(message, "invalid_request_error", None, "invalid_api_key"))

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
        """A whole response; a ``Content-Type`` among `headers` replaces ``content_type``."""
        self.send_response(status)
        if not any(name.lower() == "content-type" for name in headers):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers or {})

    def _wait(self, seconds: float) -> None:
        """Sleep, but abandon the response at once when the server stops."""
        if seconds > 0:
            self.fake._stopped.wait(seconds)
        if self.fake.stopped:
            raise _Drop

    def _scripted(self, *endpoints: str) -> Reply:
        """The next queued reply for these endpoints (or the default one); errors are raised."""
        reply = self.fake._next_reply(*endpoints) or Reply(endpoint=endpoints[0])
        if isinstance(reply.error, str):  # a page, even with 200: a web server, not an API
            raise _APIError(reply.status, reply.error, reply.headers)
        if reply.status != 200:
            fallback = (f"Simulated HTTP {reply.status}.", "api_error", None)
            message, type_, code = _DEFAULT_ERRORS.get(reply.status, fallback)
            body = reply.error or _error_body(message, type_, None, code)
            raise _APIError(reply.status, body, reply.headers)
        return reply

    def _chat(self, body: Any) -> None:
        request = _ChatRequest.parse(body, self.fake.models)
        reply = self._scripted("chat")
        self.fake._progress(0)
        number = self.fake._next_answer_number()
        request.calls = calls = _chat_calls(request.tool_calls(reply), number)
        speaks = not calls or reply.text is not None or reply.tokens is not None
        plans = request.plan(request.answer_text(reply, number) if speaks else "", reply)
        if calls and reply.finish_reason == "length":  # cut while writing the last call
            last = calls[-1]["function"]
            last["arguments"] = last["arguments"][: len(last["arguments"]) // 2]
        elif calls:  # unless cut by the length limit, the answer ends to call them
            plans = [(t, "tool_calls" if f == reply.finish_reason else f) for t, f in plans]
        base = {"id": f"chatcmpl-fake{number}", "created": int(time.time()), "model": request.model}
        if request.stream and reply.raw_chunks is not None:
            self._stream_raw(reply)
        elif request.stream and not reply.ignore_stream:
            self._stream_chat(base, plans, request, reply)
        else:
            self._complete_chat(base, plans, request, reply)

    def _before_answer(self, reply: Reply) -> None:
        """A non-streamed answer honours `stall` (a delay) and `drop_after` (no answer at all)."""
        self._wait(reply.stall or 0)
        if reply.drop_after is not None:
            raise _Drop

    def _complete_chat(
        self, base: dict[str, Any], plans: _Plans, request: _ChatRequest, reply: Reply
    ) -> None:
        self._before_answer(reply)
        calls = request.calls
        if reply.raw_body is not None:
            raw = reply.raw_body
            self._send(200, raw.encode() if isinstance(raw, str) else raw, "application/json", {})
            return
        message = {"role": "assistant", "refusal": None}
        message |= {"tool_calls": calls} if calls else {}
        choices = [
            {
                "index": index,
                "message": {**message, "content": "".join(tokens) or (None if calls else "")},
                "finish_reason": finish,
                "logprobs": None,
            }
            for index, (tokens, finish) in enumerate(plans)
        ]
        payload = {**base, "object": "chat.completion", "choices": choices}
        if reply.usage != "never":
            payload["usage"] = _usage(reply, request, sum(len(tokens) for tokens, _ in plans))
        self._send_json(200, payload, reply.headers)

    def _stream_chat(
        self, base: dict[str, Any], plans: _Plans, request: _ChatRequest, reply: Reply
    ) -> None:
        """Send role chunks, content (one token per chunk, choices interleaved), tool calls
        (each: index, id and name, then its arguments in pieces), finish, usage."""
        self._begin_events(reply.headers)
        self.recorded.first_byte = time.monotonic()
        base, calls = {**base, "object": "chat.completion.chunk"}, request.calls
        start = {"role": "assistant", "content": None if calls else ""}
        for index in range(len(plans)):
            self._write(_event(_chunk(base, index, start, None)))
        templates = [_Template(_chunk(base, i, {"content": "\0"}, None)) for i in range(len(plans))]
        sent = 0
        for position in range(max(len(tokens) for tokens, _ in plans)):
            for index, (tokens, _) in enumerate(plans):
                if position < len(tokens):
                    self._between_chunks(reply, sent)
                    self._write(templates[index].render(tokens[position]))
                    sent += 1
                    self.fake._progress(sent)
        self._between_chunks(reply, sent)
        for index in range(len(plans)):
            for number, call in enumerate(calls):
                function, arguments = call["function"], call["function"]["arguments"]
                head = {**call, "index": number, "function": {**function, "arguments": ""}}
                self._write(_event(_chunk(base, index, {"tool_calls": [head]}, None)))
                cut = len(arguments) // 2  # the arguments in two pieces, as a model writes them
                pieces = (arguments[:cut], arguments[cut:]) if isinstance(arguments, str) else ""
                for piece in pieces or (arguments,):  # an object (TGI's way): whole
                    delta = {"tool_calls": [{"index": number, "function": {"arguments": piece}}]}
                    self._write(_event(_chunk(base, index, delta, None)))
        for index, (_, finish) in enumerate(plans):
            chunk = _chunk(base, index, {}, finish)
            if reply.usage == "in_last_chunk" and index == len(plans) - 1:
                chunk["usage"] = _usage(reply, request, sent)
            self._write(_event(chunk))
        if reply.usage == "auto" and request.include_usage:
            self._write(_event({**base, "choices": [], "usage": _usage(reply, request, sent)}))
        self._write(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _stream_raw(self, reply: Reply) -> None:
        """Send the scripted SSE payloads verbatim (malformed chunks, split surrogates...)."""
        self._begin_events(reply.headers)
        self.recorded.first_byte = time.monotonic()
        for position, payload in enumerate(reply.raw_chunks or ()):
            if position:
                self._wait(reply.chunk_delay)
            kind, payload = payload if isinstance(payload, tuple) else (None, payload)
            data = payload.encode() if isinstance(payload, str) else payload
            head = f"event: {kind}\n".encode() if kind else b""
            self._write(head + b"data: " + data + b"\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _responses(self, body: Any) -> None:
        request = _ResponsesRequest.parse(body, self.fake.models)
        reply = self._scripted("responses", "chat")
        self.fake._progress(0)
        answer = _Response(request, reply, self.fake._next_answer_number())
        if request.stream and reply.raw_chunks is not None:
            self._stream_raw(reply)
        elif request.stream:
            _ResponseStream(self, answer).send()
        else:
            self._before_answer(reply)
            if reply.raw_body is not None:
                raw = reply.raw_body
                data = raw.encode() if isinstance(raw, str) else raw
                self._send(200, data, "application/json", reply.headers)
                return
            self._send_json(200, answer.payload(), reply.headers)

    def _begin_events(self, headers: dict[str, str]) -> None:
        """Start a chunked ``text/event-stream`` response."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _between_chunks(self, reply: Reply, sent: int) -> None:
        """Apply the scripted faults and pacing before the next content (or finish) chunk."""
        if reply.drop_after is not None and sent >= reply.drop_after:
            raise _Drop
        if reply.malformed_after == sent:
            self._write(b"data: {not json\n\n")
        if sent > 0:
            self._wait(reply.stall if sent == 1 and reply.stall else reply.chunk_delay)
            if reply.ping:
                self._write(b": ping\n\n")

    def _write(self, data: bytes) -> None:
        """Send one HTTP chunk; the socket is unbuffered, so it leaves at once."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _images(self, body: Any) -> None:
        request = _ImageRequest.parse(body, self.fake.models)
        reply = self._scripted("images")
        self._wait(reply.stall or 0)
        if request.stream:
            self._stream_images(request, reply)
            return
        image_format = request.response_format or reply.image_format
        revised = reply.revised_prompt or request.default_revised_prompt()
        data = []
        for index in range(1 if reply.ignore_n else request.n):
            item = {"revised_prompt": revised} if revised else {}
            image = image_bytes(reply.image_kind, request.render(index))
            if image_format == "url":
                image_id = self.fake._store_image(image, reply)
                item["url"] = reply.image_url or f"{self.fake.url}/files/{image_id}.png"
            else:
                item["b64_json"] = base64.b64encode(image).decode()
            data.append(item)
        payload: dict[str, Any] = {"created": int(time.time()), "data": data}
        if request.model.startswith("gpt-image"):
            payload["usage"] = request.usage(len(data))
        self._send_json(200, payload, reply.headers)

    def _stream_images(self, request: _ImageRequest, reply: Reply) -> None:
        """``stream=True``: `partial_images` previews per image (paced by `chunk_delay`), then
        one ``completed`` event with the image and its usage, as the API sends them."""
        self._begin_events(reply.headers)
        size = f"{request.width}x{request.height}"
        base = {"created_at": int(time.time()), "size": size, "quality": "auto"}
        base |= {"background": "opaque", "output_format": "png"}

        def send(kind: str, png: bytes, **extra: Any) -> None:
            payload = {**base, "type": kind, "b64_json": base64.b64encode(png).decode(), **extra}
            self._write(_event(payload, kind))

        for index in range(1 if reply.ignore_n else request.n):
            for partial in range(request.partials):
                png = request.render(index + 1000 * (partial + 1))
                send("image_generation.partial_image", png, partial_image_index=partial)
                self._wait(reply.chunk_delay)
            send("image_generation.completed", request.render(index), usage=request.usage(1))
        self.wfile.write(b"0\r\n\r\n")

    def _file(self, image_id: str) -> None:
        """An image link: the stored bytes, or a scripted huge, chunked or dripping download."""
        stored = self.fake._image(image_id)
        if stored is None:
            raise _APIError(404, _error_body("File not found.", "invalid_request_error"))
        image, reply = stored
        size = len(image) if reply.download_bytes is None else reply.download_bytes
        if reply.download == "whole":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            for piece in _padded(image, size, 1 << 16):
                self.wfile.write(piece)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        drip = reply.download == "drip"
        for piece in _padded(image, size, 16 if drip else 1 << 16):
            self._write(piece)
            if drip:
                self._wait(reply.chunk_delay or 0.2)
        self.wfile.write(b"0\r\n\r\n")

    def _models(self, _body: Any) -> None:
        self._scripted("models")  # only faults apply
        data = [
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "gptmagic-test"}
            for model in self.fake.models
        ]
        self._send_json(200, {"object": "list", "data": data})

    def _control_enqueue(self, body: Any) -> None:
        try:
            replies = [Reply(**fields) for fields in body]
        except (TypeError, ValueError) as err:
            raise _invalid(f"Expected a JSON list of Reply field objects: {err}") from err
        self.fake.enqueue(*replies)
        self._send_json(200, {"queued": len(replies)})

    def _control_requests(self, _body: Any) -> None:
        self._send_json(200, [recorded.to_json() for recorded in self.fake.requests])

    def _control_reset(self, _body: Any) -> None:
        self.fake.reset()
        self._send_json(200, {"reset": True})


class _Server(ThreadingHTTPServer):
    """Never waits for open streams on close, nor prints tracebacks for vanished clients."""

    daemon_threads = True
    block_on_close = False
    timeout = 0.05  # how often the serving loop checks for stop() and the lifetime

    def __init__(self, fake: FakeOpenAI, port: int):
        super().__init__(("127.0.0.1", port), _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """An OpenAI-compatible server on 127.0.0.1 that records requests and plays scripted replies.

    It stops by itself after `lifetime` seconds so that a forgotten server cannot outlive a
    test run. Requests to ``/_control/*`` are not recorded. `port` 0 picks a free port.
    Like servers in the wild, it can lack the images endpoint (`images=False`) and answer
    unknown paths with OpenAI's JSON, plain text or an HTML page (`not_found`); these and
    `api_key` may also be changed while it runs.
    """

    NOT_FOUND_STYLES = ("json", "text", "html")

    def __init__(
        self,
        api_key: str | None = None,
        lifetime: float = 600.0,
        models: list[str] | None = None,
        port: int = 0,
        *,
        images: bool = True,
        not_found: str = "json",
    ):
        if not_found not in self.NOT_FOUND_STYLES:
            raise ValueError(f"not_found must be one of {self.NOT_FOUND_STYLES}: {not_found!r}")
        self.api_key = api_key
        self.images = images
        self.not_found = not_found
        self.lifetime = lifetime
        self.models = list(models or DEFAULT_MODELS)
        self.requests: list[Recorded] = []
        self._port = port
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._images: dict[str, tuple[bytes, Reply]] = {}
        self._answers = 0
        self._watchers: list[tuple[int, threading.Event]] = []
        self._stopped = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @property
    def chat_requests(self) -> list[Recorded]:
        """Chat completions requests (OpenAI's and Azure's paths)."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def responses_requests(self) -> list[Recorded]:
        """Responses API requests (OpenAI's and Azure's paths)."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/responses")]

    def start(self) -> FakeOpenAI:
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAI can only be started once")
        self._httpd = _Server(self, self._port)
        self._thread = threading.Thread(target=self._serve, name="FakeOpenAI", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self) -> None:
        """Block until the server stops (its lifetime elapsed or stop() was called)."""
        if self._thread is not None:
            self._thread.join()

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def when_sent(self, chunks: int) -> threading.Event:
        """An event set once a chat or responses request arriving after this call has sent
        ``chunks`` content chunks (text or reasoning-summary deltas; 0: as soon as it arrives,
        before any stall). Tests act on it, e.g. interrupt at a known point of a stream,
        instead of after a guessed delay."""
        event = threading.Event()
        with self._lock:
            self._watchers.append((chunks, event))
        return event

    def _progress(self, sent: int) -> None:
        with self._lock:
            reached = [w for w in self._watchers if sent >= w[0]]
            self._watchers = [w for w in self._watchers if sent < w[0]]
        for _, event in reached:
            event.set()

    def reset(self) -> None:
        """Forget recorded requests, queued replies and the answer counter."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self._answers = 0

    def _serve(self) -> None:
        """A bounded serving loop: it ends on stop() or when the lifetime has elapsed."""
        assert self._httpd is not None
        deadline = time.monotonic() + self.lifetime
        with self._httpd:
            while not self._stopped.is_set() and time.monotonic() < deadline:
                self._httpd.handle_request()
        self._stopped.set()

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, *endpoints: str) -> Reply | None:
        """Pop the oldest queued reply meant for one of these endpoints."""
        with self._lock:
            for reply in self._queue:
                if reply.endpoint in endpoints:
                    self._queue.remove(reply)
                    return reply
        return None

    def _next_answer_number(self) -> int:
        with self._lock:
            self._answers += 1
            return self._answers

    def _store_image(self, image: bytes, reply: Reply) -> str:
        image_id = uuid.uuid4().hex
        with self._lock:
            self._images[image_id] = (image, reply)
        return image_id

    def _image(self, image_id: str) -> tuple[bytes, Reply] | None:
        with self._lock:
            return self._images.get(image_id)


def main(argv: list[str] | None = None) -> int:
    """Serve for another process (e.g. a notebook kernel) until the lifetime ends."""
    parser = argparse.ArgumentParser(description="Local OpenAI-compatible test server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=900.0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--no-images", action="store_true", help="serve no images endpoint")
    parser.add_argument("--not-found", choices=FakeOpenAI.NOT_FOUND_STYLES, default="json")
    args = parser.parse_args(argv)
    server = FakeOpenAI(
        api_key=args.api_key,
        lifetime=args.lifetime,
        port=args.port,
        images=not args.no_images,
        not_found=args.not_found,
    ).start()
    print(f"GPTMAGIC_TEST_SERVER {server.base_url}", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
