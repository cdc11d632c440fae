"""What each data tool shows of a kernel value: text for the model, a few words for the cell.

Values are only read (lengths, shapes, ``iloc`` slices, ``value_counts``), never called or
evaluated. pandas and NumPy are recognised through ``sys.modules``, as in describe.py, and
never imported here. A call the model can correct raises :class:`ToolError` saying how.

``clean`` masks secrets in one value before it is shortened into a table cell or an item
line: masking the finished text afterwards cannot find a key whose end was cut off.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping, Sequence, Sized
from itertools import islice
from typing import Any

from ..describe import cap, capped_repr, cell, count, markdown_table
from .specs import TABLE_COLUMNS

Clean = Callable[[Any], Any]

HIDDEN = frozenset({"In", "Out", "exit", "quit", "get_ipython"})  # IPython's own names
MAX_VARIABLES = 100
ITEM_CHARS = 300  # one item of a list or dict in show_rows
LISTED_COLUMNS = 50  # columns named when a column is not found
_CODE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
_NOT_LISTED = "modules, functions, classes and names starting with _ are not listed"


class ToolError(Exception):
    """A call the model can correct: the message goes to the model, ``short`` to the cell."""

    def __init__(self, message: str, short: str):
        super().__init__(message)
        self.short = short


def _libraries() -> tuple[Any, Any]:
    return sys.modules.get("pandas"), sys.modules.get("numpy")


# -- list_variables -------------------------------------------------------------------------
def listed(name: Any, value: Any) -> bool:
    """A variable the user made: no IPython internals, private names, modules or code.

    Its type is read with ``type()``: ``isinstance`` asks the value for ``__class__``, which
    a lazy object answers by running code (Django's ``settings`` imports the settings module,
    or raises), so one such variable would run code or fail the whole list.
    """
    return (
        isinstance(name, str)
        and not name.startswith("_")
        and name not in HIDDEN
        and not issubclass(type(value), _CODE)
    )


def list_variables(namespace: Mapping[str, Any]) -> tuple[str, str]:
    names = sorted(name for name, value in namespace.items() if listed(name, value))
    if not names:
        return f"No variables in the kernel yet ({_NOT_LISTED}).", "no variables"
    first = f", the first {MAX_VARIABLES} by name" if len(names) > MAX_VARIABLES else ""
    rows = [
        (name, type(namespace[name]).__name__, size(namespace[name]))
        for name in names[:MAX_VARIABLES]
    ]
    table = markdown_table(["name", "type", "size or value"], rows)
    text = f"{count(len(names), 'variable')} in the kernel{first} ({_NOT_LISTED}):\n\n{table}"
    return text, count(len(names), "variable")


def size(value: Any) -> str:
    """A DataFrame's shape, a sequence's length, a number's value: a few words, or ""."""
    pandas, numpy = _libraries()
    kind = type(value)  # not isinstance: see listed()
    try:
        if pandas is not None and issubclass(kind, pandas.DataFrame):
            rows, columns = value.shape
            return f"{count(rows, 'row')} × {count(columns, 'column')}"
        if pandas is not None and issubclass(kind, pandas.Series):
            return count(len(value), "value")
        if numpy is not None and issubclass(kind, numpy.ndarray):
            return f"shape {value.shape}"
        if value is None or issubclass(kind, (bool, int, float, complex)):
            return cell(value)
        if numpy is not None and issubclass(kind, numpy.generic):
            return cell(value)
        if issubclass(kind, str):
            return count(len(value), "character")
        if issubclass(kind, (bytes, bytearray)):
            return count(len(value), "byte")
        if issubclass(kind, Sized):
            return count(len(value), "item")
    except Exception:  # a __len__ or __str__ that fails: the name and type are still useful
        pass
    return ""


# -- show_rows ------------------------------------------------------------------------------
def show_rows(
    value: Any, label: str, start: int, rows: int, columns: list[str] | None, clean: Clean
) -> tuple[str, str]:
    pandas, numpy = _libraries()
    kind, noun = type(value).__name__, "rows"
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return _frame_rows(value, label, start, rows, columns, clean)
    if columns is not None:
        raise ToolError(
            f"columns apply to DataFrames only; `{label}` is a {kind}: pass columns null.",
            "columns apply to DataFrames only",
        )
    if pandas is not None and isinstance(value, pandas.Series):
        end = _window(len(value), start, rows, label)
        part = value.iloc[start:end]
        header = [_header(value.index.name, clean), _header(value.name, clean) or "value"]
        table = _table(header, zip(part.index, part, strict=True), clean)
    elif numpy is not None and isinstance(value, numpy.ndarray) and value.ndim in (1, 2):
        end = _window(len(value), start, rows, label)
        part = value[start:end]
        if value.ndim == 1:
            body = zip(range(start, end), part.tolist(), strict=True)
            table = _table(["", "value"], body, clean)
        else:
            shown = part[:, :TABLE_COLUMNS].tolist()
            header = ["", *map(str, range(min(value.shape[1], TABLE_COLUMNS)))]
            table = _table(header, ((i, *row) for i, row in enumerate(shown, start)), clean)
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        noun = "items"
        end = _window(len(value), start, rows, label, noun)
        table = _items(enumerate(value[start:end], start), clean)
    elif isinstance(value, Mapping):
        noun = "items"
        end = _window(len(value), start, rows, label, noun)
        table = _items(islice(value.items(), start, end), clean)
    else:
        raise ToolError(
            f"show_rows reads DataFrames, Series, 1- or 2-dimensional arrays, lists, tuples "
            f"and dicts; `{label}` is a {kind}: use describe_variable.",
            f"not rows: {kind}",
        )
    where = _where(start, end, len(value), noun)
    return f"`{label}`: {kind}, {where}:\n\n{table}", where


def _frame_rows(
    frame: Any, label: str, start: int, rows: int, columns: list[str] | None, clean: Clean
) -> tuple[str, str]:
    end = _window(len(frame), start, rows, label)
    width = frame.shape[1]
    if columns is None:
        positions = list(range(min(width, TABLE_COLUMNS)))
        note = f", the first {TABLE_COLUMNS} of {width:,} columns" if width > TABLE_COLUMNS else ""
    else:
        named = list(dict.fromkeys(columns))
        positions = [p for name in named for p in column_positions(frame, name, label)]
        note = ""
        if len(positions) > TABLE_COLUMNS:
            note = f", {TABLE_COLUMNS} of the {len(positions)} columns asked for (at most "
            note += f"{TABLE_COLUMNS} per call)"
            positions = positions[:TABLE_COLUMNS]
    part = frame.iloc[start:end, positions]
    header = [_header(frame.index.name, clean), *(_header(c, clean) for c in part.columns)]
    body = zip(part.index, part.itertuples(index=False, name=None), strict=True)
    table = _table(header, ((index, *values) for index, values in body), clean)
    where = _where(start, end, len(frame))
    return f"`{label}`: DataFrame, {where}{note}:\n\n{table}", where


def _window(total: int, start: int, rows: int, label: str, noun: str = "rows") -> int:
    """The end of rows ``start`` to ``start + rows``; a start past the end is refused."""
    if start >= total and total:
        raise ToolError(
            f"start {start} is past the end: `{label}` has {total:,} {noun} "
            f"(positions 0 to {total - 1}).",
            "start past the end",
        )
    return min(start + rows, total)


def _where(start: int, end: int, total: int, noun: str = "rows") -> str:
    if not total:
        return f"empty (0 {noun})"
    return f"{noun} {start}–{end - 1} of {total:,}"


def _header(label: Any, clean: Clean) -> str:
    return "" if label is None else cell(clean(label))


def _table(header: list[str], rows: Any, clean: Clean) -> str:
    return markdown_table(header, ([clean(v) for v in row] for row in rows))


def _items(pairs: Any, clean: Clean) -> str:
    """``key: repr`` lines, each masked in full before it is shortened."""
    lines = [
        f"{cell(clean(key))}: {cap(clean(capped_repr(item, 4 * ITEM_CHARS)), ITEM_CHARS)}"
        for key, item in pairs
    ]
    return "\n".join(lines) or "(no items)"


def column_positions(frame: Any, name: str, label: str) -> list[int]:
    """Where column ``name`` is: a string label equal to it, else a label whose text is it.

    The text match reaches the integer or tuple labels a model saw rendered as text
    (``2024``, ``('sales', 'q1')``). Labels are compared, never parsed or evaluated.
    """
    labels = list(frame.columns)
    exact = [i for i, c in enumerate(labels) if isinstance(c, str) and c == name]
    if exact:
        return exact
    loose = [i for i, c in enumerate(labels) if not isinstance(c, str) and str(c) == name]
    if loose:
        return loose
    known = ", ".join(repr(cell(c)) for c in labels[:LISTED_COLUMNS])
    more = f", … and {len(labels) - LISTED_COLUMNS:,} more" if len(labels) > LISTED_COLUMNS else ""
    raise ToolError(
        f"`{label}` has no column {name!r}. Its columns: {known or 'none'}{more}.",
        "no such column",
    )


# -- value_counts ---------------------------------------------------------------------------
def value_counts(
    value: Any, label: str, column: str | None, top: int, clean: Clean
) -> tuple[str, str]:
    pandas, _ = _libraries()
    kind = type(value).__name__
    if pandas is not None and isinstance(value, pandas.DataFrame):
        if column is None:
            raise ToolError(
                f"`{label}` is a DataFrame: name the column to count.", "no column given"
            )
        positions = column_positions(value, column, label)
        if len(positions) > 1:
            raise ToolError(
                f"`{label}` has {len(positions)} columns named {column!r}; value_counts "
                "needs exactly one.",
                "ambiguous column",
            )
        series, title = value.iloc[:, positions[0]], f"`{label}` column {cell(column)!r}"
    elif pandas is not None and isinstance(value, pandas.Series):
        if column is not None:
            raise ToolError(f"`{label}` is a Series: pass column null.", "column on a Series")
        series, title = value, f"`{label}`"
    else:
        raise ToolError(
            f"value_counts reads a DataFrame column or a Series; `{label}` is a {kind}.",
            f"not a DataFrame or Series: {kind}",
        )
    counts = series.value_counts(dropna=False)
    total, distinct = len(series), len(counts)
    shown = counts.iloc[:top]
    heading = _header(series.name, clean) or "value"
    rows = [(v, f"{n:,}", f"{n / total:.1%}") for v, n in shown.items()]
    table = _table([heading, "count", "share"], rows, clean)
    most = f"; the {top} most frequent" if distinct > top else ""
    found = count(distinct, "distinct value")
    text = f"{title}: {count(total, 'row')}, {found}{most}:\n\n{table}"
    if distinct > top:
        rest = total - int(shown.sum())
        text += f"\n\n… and {distinct - top:,} more values in {count(rest, 'row')}."
    return text, found
