"""Backends: the APIs gptmagic speaks (``GPTMagic.api``) and the providers it reaches them
through (``GPTMagic.provider``). See :mod:`.base` for the interface.

Modules load on first use: the magics import none of this at ``%load_ext``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Backend

#: GPTMagic.api value -> "module:class" of its backend
APIS = {
    "chat": "chat_completions:ChatCompletions",
    "responses": "responses:Responses",
}


def backend_for(api: str) -> Backend:
    """The backend for ``GPTMagic.api`` (``chat`` or ``responses``)."""
    module, _, name = APIS[api].partition(":")
    return getattr(importlib.import_module(f".{module}", __name__), name)()
