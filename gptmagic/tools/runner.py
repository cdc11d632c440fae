"""Run one tool call from the model: parse, validate, read, mask, cap. Never raises.

The model's arguments are data, not code: ``name`` must be a plain public identifier bound in
the kernel (no dots, subscripts or calls), columns are matched against the frame's labels,
numbers are checked and capped. A call the model can correct gets a short error as its tool
output, so the conversation goes on; every output is masked with
:func:`~gptmagic.errors.redact` and capped at ``options.max_chars`` like ``{name}``.
"""

from __future__ import annotations

import contextlib
import json
import keyword
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..describe import DEFAULT, Options, cap, cell, describe, is_float
from ..errors import redact
from . import views
from .specs import BY_NAME, DEFAULT_ROWS, DEFAULT_TOP, MAX_ROWS, MAX_TOP, ToolSpec
from .views import ToolError

if TYPE_CHECKING:
    from ..lasterror import LastError

MAX_ROUNDS = 5  # model turns that may call tools before it must answer
MAX_CALLS = 20  # calls run per round: each result (up to context_max_chars) is sent back
CALL_LIMIT_OUTPUT = (
    f"Not run: at most {MAX_CALLS} tool calls are run per answer. Call fewer at a time."
)
SUMMARY_CHARS = 160
ROUND_LIMIT_OUTPUT = (
    f"Not run: the limit of {MAX_ROUNDS} tool rounds for this prompt is reached. "
    "Answer with what you have."
)


@dataclass(frozen=True)
class ToolResult:
    name: str  # the tool the model asked for (as sent, even when unknown)
    arguments: dict[str, Any]  # the model's arguments, parsed ({} when they were not an object)
    output: str  # what goes back to the model: masked, capped
    ok: bool  # False: the call was refused or failed, and output says why
    summary: str  # the one line shown in the cell, e.g. "🔧 show_rows(sales, …) → rows 0–9 of 96"


def round_limit_reached(rounds: int, max_rounds: int = MAX_ROUNDS) -> bool:
    """True once ``rounds`` model turns have called tools: the next turn must answer."""
    return rounds >= max_rounds


def run_tool(
    name: str,
    arguments: str,
    namespace: Mapping[str, Any],
    *,
    options: Options = DEFAULT,
    secrets: Iterable[Any] = (),
    last_error: LastError | None = None,
) -> ToolResult:
    """Run the call ``name(arguments)`` (``arguments`` as the model sent it: a JSON text)."""
    secrets = list(secrets)
    call = _Call(name, namespace, options, _cleaner(secrets), last_error)
    try:
        call.raw = _parse(arguments)
        spec = BY_NAME.get(name)
        if spec is None:
            known = ", ".join(BY_NAME)
            raise ToolError(f"Unknown tool {name!r}. The tools are: {known}.", "unknown tool")
        call.args = _checked(spec, call.raw, call.clean)
        output, brief = _RUN[name](call)
        output, ok = output + call.note, True
    except ToolError as exc:
        output, brief, ok = f"Error: {exc}", f"error: {exc.short}", False
    except Exception as exc:  # a repr, len or value_counts of the user's value that fails
        message = cap(call.clean(" ".join(str(exc).split())), 200)
        output = f"Error: {name} could not read the value: {type(exc).__name__}: {message}"
        brief, ok = f"error: {type(exc).__name__}", False
    output = cap(redact(output, secrets, urls=False), options.max_chars)
    return ToolResult(name, call.raw, output, ok, _summary(name, call, brief, secrets))


def unrun_tool(
    name: str, arguments: str, output: str, why: str, *, secrets: Iterable[Any] = ()
) -> ToolResult:
    """The call ``name(arguments)`` answered with ``output`` without running it (nothing is
    read); its line ends ``→ why``."""
    secrets = list(secrets)
    call = _Call(name, {}, DEFAULT, _cleaner(secrets), None)
    with contextlib.suppress(ToolError):  # else shown without arguments
        call.raw = _parse(arguments)
    return ToolResult(name, call.raw, output, False, _summary(name, call, why, secrets))


@dataclass
class _Call:
    name: str
    namespace: Mapping[str, Any]
    options: Options
    clean: views.Clean
    last_error: LastError | None
    raw: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] | None = None  # checked, with defaults: what the summary shows
    note: str = ""  # said after the output (a capped count)

    def shown(self) -> dict[str, Any]:
        return self.raw if self.args is None else self.args

    def value(self) -> Any:
        """The variable ``args["name"]``: a public identifier bound in the namespace."""
        name = self.args["name"]  # type: ignore[index]
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ToolError(
                f"{cap(self.clean(name), 60)!r} is not a variable name. Tools read variables "
                "by name (as list_variables shows them), never expressions, attributes or items.",
                "not a variable name",
            )
        if name.startswith("_"):
            raise ToolError(
                f"{name!r}: names starting with _ are private and not readable by tools.",
                "private name",
            )
        if name not in self.namespace:
            raise ToolError(
                f"No variable {name!r} in the kernel. list_variables shows the names.",
                f"no variable {cell(self.clean(name))!r}",
            )
        return self.namespace[name]

    def number(self, key: str, default: int, low: int, high: int | None = None) -> int:
        """``args[key]`` (default when null): at least ``low``; above ``high`` it is cut."""
        number = self.args.get(key)  # type: ignore[union-attr]
        number = default if number is None else number
        if number < low:
            raise ToolError(f"{key} must be at least {low}, not {number}.", f"{key} < {low}")
        if high is not None and number > high:
            self.note = (
                f"\n\n({key} {number} was cut to {high}: at most {high} per call; call again "
                "for more.)"
            )
            number = high
        self.args[key] = number  # type: ignore[index]
        return number


def _cleaner(secrets: list[Any]) -> views.Clean:
    """Masks one value's text; numbers and None stay as they are (tables format them)."""

    def clean(value: Any) -> Any:
        if value is None or isinstance(value, (bool, int)) or is_float(value):
            return value
        return redact(str(value), secrets, urls=False)

    return clean


def _parse(arguments: Any) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}  # some servers send "" for a call without arguments
    try:
        parsed = json.loads(arguments)
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[...
        reason = cap(str(exc), 100)
        raise ToolError(
            f"The arguments are not valid JSON ({reason}). Send a JSON object.", "malformed JSON"
        ) from None
    if not isinstance(parsed, dict):
        raise ToolError("The arguments must be a JSON object.", "arguments not an object")
    return parsed


_KINDS: dict[str, tuple[type, str]] = {
    "string": (str, "a string"),
    "integer": (int, "an integer"),
    "array": (list, "an array of strings"),
}


def _checked(spec: ToolSpec, raw: dict[str, Any], clean: views.Clean) -> dict[str, Any]:
    """The arguments typed as the schema says: no unknown ones, required ones present.

    Values quoted back are masked before they are shortened, as everywhere.
    """
    properties = spec.parameters["properties"]
    for key in raw:
        if key not in properties:
            takes = ", ".join(properties) or "no arguments"
            raise ToolError(
                f"{spec.name} has no argument {cap(clean(key), 40)!r}; it takes: {takes}.",
                "unknown argument",
            )
    args: dict[str, Any] = {}
    for key, schema in properties.items():
        value, kinds = raw.get(key), schema["type"]
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if value is None:
            if "null" not in kinds:
                raise ToolError(f"{spec.name} needs the argument {key!r}.", f"{key} missing")
        else:
            kind = next(k for k in kinds if k != "null")
            python, words = _KINDS[kind]
            wrong = isinstance(value, bool) or not isinstance(value, python)
            if wrong or (kind == "array" and not all(isinstance(v, str) for v in value)):
                shown = cap(clean(json.dumps(value)), 40)
                raise ToolError(f"{key} must be {words}, not {shown}.", f"bad {key}")
        args[key] = value
    return args


def _summary(name: str, call: _Call, brief: str, secrets: list[Any]) -> str:
    """One masked line of at most ``SUMMARY_CHARS``; long arguments are cut, not the result."""
    head = redact(" ".join(_call_text(name, call.shown(), call.clean).split()), secrets)
    tail = redact(" ".join(f"→ {brief}".split()), secrets)
    room = SUMMARY_CHARS - len(tail) - len("🔧  ")
    head = head if len(head) <= room else head[: room - 1] + "…"
    return f"🔧 {head} {tail}"


def _call_text(name: str, args: Mapping[str, Any], clean: views.Clean) -> str:
    """``show_rows(sales, start=0, count=10)``: the variable bare, other arguments named.

    Each value is masked before it is shortened, so a cut-off key cannot slip through.
    """

    def short(value: Any) -> str:
        if isinstance(value, str):
            return cell(clean(value))
        return cell(clean(json.dumps(value)))

    parts = []
    for key, value in args.items():
        if value is None:
            continue
        if isinstance(value, list):
            text = "[" + ", ".join(map(short, value[:3])) + (", …]" if len(value) > 3 else "]")
        else:
            text = short(value)
        parts.append(text if key == "name" else f"{short(key)}={text}")
    return f"{short(name)}({', '.join(parts)})"


# -- the tools ------------------------------------------------------------------------------
def _list_variables(call: _Call) -> tuple[str, str]:
    return views.list_variables(call.namespace)


def _describe_variable(call: _Call) -> tuple[str, str]:
    value = call.value()
    # A string is masked before describe() cuts it, so no cut-off key can slip through.
    shown = call.clean(value) if isinstance(value, str) else value
    text = describe(shown, call.args["name"], call.options)  # type: ignore[index]
    return text, views.size(value) or type(value).__name__


def _show_rows(call: _Call) -> tuple[str, str]:
    value = call.value()
    start = call.number("start", 0, 0)
    rows = call.number("count", DEFAULT_ROWS, 1, MAX_ROWS)
    args = call.args or {}
    return views.show_rows(value, args["name"], start, rows, args["columns"], call.clean)


def _value_counts(call: _Call) -> tuple[str, str]:
    value = call.value()
    top = call.number("top", DEFAULT_TOP, 1, MAX_TOP)
    args = call.args or {}
    return views.value_counts(value, args["name"], args["column"], top, call.clean)


def _last_error(call: _Call) -> tuple[str, str]:
    if call.last_error is None:
        return "No cell has raised an exception in this kernel yet.", "no error yet"
    return call.last_error.prompt_text(), call.last_error.type_name


_RUN: dict[str, Callable[[_Call], tuple[str, str]]] = {
    "list_variables": _list_variables,
    "describe_variable": _describe_variable,
    "show_rows": _show_rows,
    "value_counts": _value_counts,
    "last_error": _last_error,
}
