"""The data tools as data: name, description and JSON-schema parameters, and their wire forms.

One neutral definition per tool, rendered for Chat Completions (``{"type": "function",
"function": {...}}``) and for the Responses API (flat, with ``strict``). The schemas are
written for strict mode (every property required, optional ones nullable, no other
properties), so a model held to the schema cannot send an argument the executor does not
know; the executor validates everything again, for servers that do not enforce schemas.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 50  # show_rows: rows per call (more is cut to this, with a note)
MAX_TOP = 50  # value_counts: values per call (likewise)
DEFAULT_ROWS = 10
DEFAULT_TOP = 20
TABLE_COLUMNS = 12  # show_rows: columns shown when none are named, and at most when named


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON Schema object


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _nullable(kind: str, description: str) -> dict[str, Any]:
    return {"type": [kind, "null"], "description": description}


_NAME = {
    "type": "string",
    "description": "A variable name as list_variables shows it (a plain name, not an expression).",
}

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "list_variables",
        "List the variables in the user's Python (Jupyter) kernel with their type and size. "
        "Modules, functions, classes and names starting with _ are not listed. Read-only.",
        _object(),
    ),
    ToolSpec(
        "describe_variable",
        "Describe one variable as the user's prompts show it: a pandas DataFrame as its shape, "
        "columns with dtypes and first rows; a Series or NumPy array as its shape and first "
        "values; anything else as a shortened repr. Read-only.",
        _object(name=_NAME),
    ),
    ToolSpec(
        "show_rows",
        "Show rows of a pandas DataFrame (or items of a Series, NumPy array, list, tuple or "
        f"dict) from position start, at most {MAX_ROWS} per call. Read-only.",
        _object(
            name=_NAME,
            start=_nullable("integer", "First row position, 0-based (null: 0)."),
            count=_nullable("integer", f"How many rows, 1 to {MAX_ROWS} (null: {DEFAULT_ROWS})."),
            columns={
                "type": ["array", "null"],
                "items": {"type": "string"},
                "description": f"DataFrame column names to show, at most {TABLE_COLUMNS} "
                f"(null: the first {TABLE_COLUMNS}).",
            },
        ),
    ),
    ToolSpec(
        "value_counts",
        "Count how often each value occurs in a DataFrame column or a Series, most frequent "
        f"first, at most {MAX_TOP} values per call. Read-only.",
        _object(
            name=_NAME,
            column=_nullable("string", "The column name for a DataFrame; null for a Series."),
            top=_nullable("integer", f"How many values, 1 to {MAX_TOP} (null: {DEFAULT_TOP})."),
        ),
    ),
    ToolSpec(
        "last_error",
        "The last exception raised in the user's kernel: type, message and the end of the "
        "traceback. Read-only.",
        _object(),
    ),
)

BY_NAME = {tool.name: tool for tool in TOOLS}


def chat_tools(tools: tuple[ToolSpec, ...] = TOOLS) -> list[dict[str, Any]]:
    """``tools=`` for Chat Completions (``ChatCompletionToolParam``)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": copy.deepcopy(tool.parameters),
            },
        }
        for tool in tools
    ]


def responses_tools(tools: tuple[ToolSpec, ...] = TOOLS) -> list[dict[str, Any]]:
    """``tools=`` for the Responses API (``FunctionToolParam``, which requires ``strict``)."""
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": copy.deepcopy(tool.parameters),
            "strict": True,
        }
        for tool in tools
    ]
