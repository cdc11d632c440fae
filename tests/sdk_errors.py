"""Real ``openai`` SDK exceptions for unit tests, built on real HTTP responses (no mocks).

The SDK raises these classes for the same status codes (``APIStatusError`` subclasses chosen
by status), so a pure function given one of them sees exactly what it sees in a live run.
"""

from __future__ import annotations

from typing import Any

import openai

from gptmagic.transport import http_library

URL = "http://127.0.0.1:9/v1/chat/completions"

BY_STATUS = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def request() -> Any:
    return http_library().Request("POST", URL)


def status_error(
    status: int, headers: dict[str, str] | None = None, body: Any = None, message: str = ""
) -> openai.APIStatusError:
    """The exception the SDK raises for an HTTP ``status`` answer with these headers/body."""
    response = http_library().Response(status, headers=headers or {}, request=request())
    cls = BY_STATUS.get(status, openai.InternalServerError if status >= 500 else None)
    cls = cls or openai.APIStatusError
    return cls(message or f"Error code: {status}", response=response, body=body)


def bad_request(param: str | None) -> openai.BadRequestError:
    body = {"error": {"message": "Unsupported parameter.", "param": param, "code": None}}
    return status_error(400, body=body)  # type: ignore[return-value]


def connection_error() -> openai.APIConnectionError:
    return openai.APIConnectionError(request=request())


def timeout_error() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=request())
