"""The HTTP library under the ``openai`` SDK, and the exceptions that mean a stream broke.

The SDK is built on ``httpx`` (or its successor ``httpx2``); which one is asked of the SDK,
never assumed, so proxy diagnosis and broken-stream handling follow the installed version.
"""

from __future__ import annotations

import json
import sys
from types import ModuleType


def http_library() -> ModuleType:
    """The HTTP library the installed ``openai`` is built on (``httpx``, or ``httpx2``)."""
    import openai

    for cls in openai.DefaultHttpxClient.__mro__:
        root = cls.__module__.partition(".")[0]
        if root.startswith("httpx"):
            return sys.modules[root]
    raise ImportError("openai.DefaultHttpxClient is not built on httpx")


def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the stream broke (the SDK's, its HTTP library's, bad data)."""
    import openai

    # JSONDecodeError, not every ValueError: a bug in display code must not pass for bad data.
    from .backends.events import MalformedChunk

    errors: list[type[BaseException]] = [openai.APIError, json.JSONDecodeError, MalformedChunk]
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "HTTPError"):
            errors += [module.HTTPError, module.StreamError]
    return tuple(errors)
