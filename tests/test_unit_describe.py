"""describe.py: the size caps of prompt renderings (rows, columns, values, characters)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gptmagic.describe import Options, cap, capped_repr, cell, describe


def table_header(text: str, title: str) -> list[str]:
    """The column names of the Markdown table printed under ``title``."""
    lines = text.splitlines()
    header = lines[lines.index(title) + 2]
    return [c.strip() for c in header.strip("|").split("|")]


def test_a_series_shows_at_least_twenty_values():
    text = describe(pd.Series(range(30)), "s", Options(rows=5))
    assert "First 20 values:" in text
    assert "| 19 | 19 |" in text and "| 20 | 20 |" not in text


def test_a_series_shows_more_values_when_more_rows_are_asked_for():
    text = describe(pd.Series(range(30)), "s", Options(rows=25))
    assert "First 25 values:" in text and "| 24 | 24 |" in text and "| 25 | 25 |" not in text


def test_a_short_series_shows_all_its_values():
    text = describe(pd.Series([7, 8], name="n"), "s")
    assert "`s`: pandas Series 'n', 2 values, dtype int64" in text and "First 2 values:" in text


def test_a_wide_frame_shows_twelve_columns_in_its_rows_table():
    frame = pd.DataFrame({f"c{i}": [i] for i in range(15)})
    text = describe(frame, "df")
    assert "First 1 rows (first 12 columns):" in text
    assert table_header(text, "First 1 rows (first 12 columns):") == [""] + [
        f"c{i}" for i in range(12)
    ]
    assert "c14 (int64)" in text  # every column is still named with its dtype


def test_a_frame_of_exactly_twelve_columns_shows_them_all_without_a_note():
    frame = pd.DataFrame({f"c{i}": [i] for i in range(12)})
    text = describe(frame, "df")
    assert "First 1 rows:" in text and len(table_header(text, "First 1 rows:")) == 13


def test_the_statistics_table_has_at_most_twelve_columns_as_rows():
    frame = pd.DataFrame({f"c{i}": [1.0, 2.0] for i in range(15)})
    text = describe(frame, "df", Options(stats=True))
    stats = text[text.index("Summary statistics (first 12 columns):") :]
    assert "| c11 |" in stats and "| c12 |" not in stats


def test_a_very_wide_frame_names_fifty_columns_and_counts_the_rest():
    frame = pd.DataFrame({f"c{i}": [i] for i in range(60)})
    text = describe(frame, "df")
    assert "c49 (int64), … and 10 more" in text and "c50 (" not in text


def test_rows_shown_follow_the_option():
    text = describe(pd.DataFrame({"x": range(10)}), "df", Options(rows=3))
    assert "First 3 rows:" in text and "| 2 | 2 |" in text and "| 3 | 3 |" not in text
    assert "`df`: pandas DataFrame, 10 rows × 1 column" in text


def test_statistics_sample_evenly_above_ten_thousand_rows():
    text = describe(pd.DataFrame({"x": np.arange(20_001.0)}), "df", Options(stats=True))
    assert "Summary statistics (of 6,667 evenly spaced rows out of 20,001):" in text
    text = describe(pd.DataFrame({"x": np.arange(10_000.0)}), "df", Options(stats=True))
    assert "Summary statistics:" in text


def test_a_cell_is_one_short_escaped_line():
    assert cell("a|b\nc") == "a\\|b c"
    assert cell("x" * 30) == "x" * 30
    assert cell("x" * 31) == "x" * 29 + "…"
    assert cell(1 / 3) == "0.333333"


def test_cap_keeps_text_of_exactly_the_limit_and_cuts_one_more():
    assert cap("abcd", 4) == "abcd"
    assert cap("abcde", 4) == "abcd… [truncated: 1 more characters]"


def test_container_reprs_are_cut_while_built():
    text = capped_repr(list(range(1000)), 4000)
    assert text.endswith("99, ...]") and text.count(",") == 100


def test_numpy_scalars_are_plain_numbers():
    assert describe(np.int64(3), "n") == "3"
