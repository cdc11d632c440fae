"""Read-only data tools the model may call (``%%gpt --tools``): list, describe, rows, counts,
the last error. Definitions for both APIs (specs.py), the renderings (views.py) and one
executor that never raises (runner.py). Nothing here evaluates code or imports pandas.
"""

from __future__ import annotations

from .runner import (
    CALL_LIMIT_OUTPUT,
    MAX_CALLS,
    MAX_ROUNDS,
    ROUND_LIMIT_OUTPUT,
    ToolResult,
    round_limit_reached,
    run_tool,
    unrun_tool,
)
from .specs import MAX_ROWS, MAX_TOP, TOOLS, ToolSpec, chat_tools, responses_tools

__all__ = [
    "CALL_LIMIT_OUTPUT",
    "MAX_CALLS",
    "MAX_ROUNDS",
    "MAX_ROWS",
    "MAX_TOP",
    "ROUND_LIMIT_OUTPUT",
    "TOOLS",
    "ToolResult",
    "ToolSpec",
    "chat_tools",
    "refuse_tool",
    "responses_tools",
    "round_limit_reached",
    "run_tool",
    "unrun_tool",
]
