"""Compact, size-capped renderings of kernel values for prompts (``{df}`` and friends).

What a model needs from a DataFrame is its shape, its columns and types and a few rows, not
the data: a frame is rendered from ``shape``, ``dtypes`` and ``head`` only, so a 10-million-row
frame costs the same as a ten-row one. Summary statistics are opt-in and computed on at most
``STATS_SAMPLE`` evenly spaced rows. pandas and NumPy stay optional: a value is only treated as
a pandas or NumPy object when that library is already imported (``sys.modules``), and nothing
here imports them. An exception reads like ``{_error}`` (type, message, traceback tail);
everything else is a repr capped at ``max_chars``.
"""

from __future__ import annotations

import itertools
import math
import re
import reprlib
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

LIST_COLUMNS = 50  # columns named (with their dtypes)
TABLE_COLUMNS = 12  # columns shown in the rows and statistics tables
SERIES_ROWS = 20  # a Series shows at least this many values (dtypes, value counts...)
CELL_CHARS = 30
STATS_SAMPLE = 10_000


@dataclass(frozen=True)
class Options:
    rows: int = 5
    stats: bool = False
    max_chars: int = 4000


DEFAULT = Options()


def describe(value: Any, label: str, options: Options = DEFAULT) -> str:
    """The prompt text for ``value`` (named ``label`` in the prompt)."""
    if isinstance(value, str):
        text = cap(value, options.max_chars)
        if label.startswith("In[") and "\n" in text.strip():  # a cell's source: code
            return fenced(text.strip("\n"), "python")
        return text
    pandas, numpy = sys.modules.get("pandas"), sys.modules.get("numpy")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return describe_frame(value, label, options)
    if pandas is not None and isinstance(value, pandas.Series):
        return describe_series(value, label, options)
    if numpy is not None and isinstance(value, numpy.ndarray):
        return describe_array(numpy, value, label, options)
    if numpy is not None and isinstance(value, numpy.generic):
        return str(value)  # 3, not np.int64(3)
    if isinstance(value, BaseException):  # a caught exception reads like {_error}
        from .lasterror import from_exception

        return from_exception(value).prompt_text(f"`{label}`")
    if type(value) is int:  # not a subclass (an IntEnum has its own repr and str)
        return cap(int_text(value), options.max_chars)
    return capped_repr(value, options.max_chars)


# -- pandas ---------------------------------------------------------------------------------
def describe_frame(frame: Any, label: str, options: Options) -> str:
    rows, columns = frame.shape
    lines = [f"`{label}`: pandas DataFrame, {count(rows, 'row')} × {count(columns, 'column')}"]
    listed = itertools.islice(frame.dtypes.items(), LIST_COLUMNS)
    named = ", ".join(f"{cell(name)} ({dtype})" for name, dtype in listed)
    more = f", … and {columns - LIST_COLUMNS:,} more" if columns > LIST_COLUMNS else ""
    lines += ["", f"Columns (dtype): {named}{more}" if columns else "No columns."]
    shown = frame.iloc[: options.rows, :TABLE_COLUMNS]
    wide = f" (first {TABLE_COLUMNS} columns)" if columns > TABLE_COLUMNS else ""
    if rows and columns:
        lines += ["", f"First {len(shown):,} rows{wide}:", "", frame_table(shown)]
    if options.stats and rows and columns:
        sample, note = sample_rows(frame, rows)
        summary = sample.iloc[:, :TABLE_COLUMNS].describe().T
        lines += ["", f"Summary statistics{note}{wide}:", "", frame_table(summary)]
    return "\n".join(lines)


def describe_series(series: Any, label: str, options: Options) -> str:
    name = f" {cell(series.name)!r}" if series.name is not None else ""
    lines = [f"`{label}`: pandas Series{name}, {len(series):,} values, dtype {series.dtype}"]
    shown = series.iloc[: max(options.rows, SERIES_ROWS)]
    if len(series):
        header = "value" if series.name is None else cell(series.name)
        lines += ["", f"First {len(shown):,} values:", ""]
        pairs = zip(shown.index, shown, strict=True)
        lines.append(markdown_table([index_header(series), header], pairs))
    if options.stats and len(series):
        sample, note = sample_rows(series, len(series))
        summary = sample.describe()
        lines += ["", f"Summary statistics{note}:", ""]
        lines.append(markdown_table(["statistic", "value"], summary.items()))
    return "\n".join(lines)


def frame_table(frame: Any) -> str:
    header = [index_header(frame), *(cell(c) for c in frame.columns)]
    tuples = frame.itertuples(index=False)
    body = ((index, *values) for index, values in zip(frame.index, tuples, strict=True))
    return markdown_table(header, body)


def index_header(obj: Any) -> str:
    return cell(obj.index.name) if obj.index.name is not None else ""


def sample_rows(obj: Any, rows: int) -> tuple[Any, str]:
    """At most ``STATS_SAMPLE`` evenly spaced rows, and a note saying so when it samples."""
    if rows <= STATS_SAMPLE:
        return obj, ""
    step = -(-rows // STATS_SAMPLE)
    sample = obj.iloc[::step]
    return sample, f" (of {len(sample):,} evenly spaced rows out of {rows:,})"


# -- NumPy ----------------------------------------------------------------------------------
def describe_array(numpy: Any, array: Any, label: str, options: Options) -> str:
    lines = [f"`{label}`: NumPy array, shape {array.shape}, dtype {array.dtype}"]
    if array.size:
        # Summarised printing formats only the edge items, whatever the array's size.
        text = numpy.array2string(array, threshold=60, edgeitems=3, max_line_width=100)
        lines += ["", fenced(cap(text, options.max_chars))]
    if options.stats and array.size and numpy.issubdtype(array.dtype, numpy.number):
        step = -(-array.size // STATS_SAMPLE)
        sample = array.flat[::step]
        note = f" (of {sample.size:,} evenly spaced values)" if step > 1 else ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN samples
            figures = {
                "min": numpy.nanmin(sample),
                "max": numpy.nanmax(sample),
                "mean": numpy.nanmean(sample),
                "std": numpy.nanstd(sample),
            }
        summary = ", ".join(f"{k} {cell(v)}" for k, v in figures.items())
        lines += ["", f"Summary statistics{note}: {summary}"]
    return "\n".join(lines)


# -- everything else ------------------------------------------------------------------------
class _Repr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        """An int past Python's digit limit inside a list or dict: see :func:`int_text`."""
        try:
            return super().repr_int(x, level)
        except ValueError:
            return int_text(x)


_REPR = _Repr()
_REPR.maxlevel = 4
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxdeque = 100
_REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 50
_REPR.maxstring = _REPR.maxother = 200
_REPR.maxlong = 100
_CONTAINERS = (list, tuple, dict, set, frozenset)


def capped_repr(value: Any, max_chars: int) -> str:
    """A repr of at most ``max_chars``; built-in containers are cut while being built.

    A repr of several lines is fenced as code, so Markdown keeps its line breaks.
    """
    text = cap(_REPR.repr(value) if type(value) in _CONTAINERS else repr(value), max_chars)
    return fenced(text) if "\n" in text else text


def fenced(text: str, info: str = "") -> str:
    """``text`` as a fenced code block, with a fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    return f"{'`' * (longest + 1)}{info}\n{text}\n{'`' * (longest + 1)}"


def cap(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}… [truncated: {len(text) - max_chars:,} more characters]"


# -- Markdown tables ------------------------------------------------------------------------
def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-style table; cells are escaped and shortened so one value cannot flood it.

    Built here rather than with ``DataFrame.to_markdown``, which needs ``tabulate``.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def int_text(value: int) -> str:
    """An integer's digits; one past Python's limit on writing them (4300 digits by default,
    ``sys.set_int_max_str_digits``: ``str`` raises ValueError, a 10**5000 or a factorial of
    2000 is legitimate data) is its size and last digits, which take no quadratic time."""
    try:
        return repr(value)
    except ValueError:
        digits = int(abs(value).bit_length() * math.log10(2)) + 1
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of about {digits:,} digits, ending …{abs(value) % 10**20:020d}"


def cell(value: Any) -> str:
    """One table cell or column name: one line, ``|`` escaped, floats to 6 digits, short."""
    if type(value) is int:  # not a subclass (an IntEnum has its own repr and str)
        text = int_text(value)
    else:
        text = f"{value:.6g}" if is_float(value) else " ".join(str(value).split())
    text = text.replace("|", "\\|")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def is_float(value: Any) -> bool:
    return isinstance(value, float) or type(value).__name__.startswith("float")
