"""Read-only data tools (gptmagic/tools): definitions for both APIs, the executor's renderings,
its refusals and caps, masking, and that nothing in it evaluates code or imports pandas."""

from __future__ import annotations

import collections.abc
import json
import os
import subprocess
import sys
import typing

import numpy as np
import pandas as pd
import pydantic
import pytest
from openai.types.chat import ChatCompletionToolParam
from openai.types.responses import FunctionToolParam
from openai.types.shared_params import FunctionDefinition

from gptmagic.describe import Options, describe
from gptmagic.lasterror import LastError
from gptmagic.tools import (
    MAX_ROUNDS,
    TOOLS,
    chat_tools,
    responses_tools,
    round_limit_reached,
    run_tool,
)
from tests.conftest import KEY

REGIONS = ["north", "south", "east", "west"]


@pytest.fixture
def sales():
    return pd.DataFrame(
        {
            "region": [REGIONS[i % 4] for i in range(96)],
            "units": range(96),
            "price": [1.5] * 96,
            2024: range(100, 196),
        }
    )


def call(tool, namespace, /, secrets=(), options=None, last_error=None, **arguments):
    """Run ``tool`` with ``arguments`` as the model would send them (a JSON object)."""
    return run_tool(
        tool,
        json.dumps(arguments),
        namespace,
        options=options or Options(),
        secrets=secrets,
        last_error=last_error,
    )


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the Markdown table in ``output``, as lists of cells."""
    lines = [line for line in output.splitlines() if line.startswith("| ")][1:]
    return [[c.strip() for c in line.strip("| ").split(" | ")] for line in lines]


# -- definitions ----------------------------------------------------------------------------
NAMES = ["list_variables", "describe_variable", "show_rows", "value_counts", "last_error"]


def _keys(typed_dict) -> tuple[frozenset, frozenset]:
    hints = typing.get_type_hints(typed_dict)
    return typed_dict.__required_keys__, frozenset(hints)


def test_chat_tools_have_exactly_the_chat_completions_function_tool_shape():
    required, allowed = _keys(FunctionDefinition)
    tools = chat_tools()
    assert [t["function"]["name"] for t in tools] == NAMES
    for tool in tools:
        pydantic.TypeAdapter(ChatCompletionToolParam).validate_python(tool)
        assert set(tool) == {"type", "function"} and tool["type"] == "function"
        assert required <= set(tool["function"]) <= allowed
        assert set(tool["function"]) == {"name", "description", "parameters"}


def test_responses_tools_have_exactly_the_responses_function_tool_shape():
    required, allowed = _keys(FunctionToolParam)
    tools = responses_tools()
    assert [t["name"] for t in tools] == NAMES
    for tool in tools:
        pydantic.TypeAdapter(FunctionToolParam).validate_python(tool)
        assert required <= set(tool) <= allowed
        assert set(tool) == {"type", "name", "description", "parameters", "strict"}
        assert tool["type"] == "function" and tool["strict"] is True


def test_schemas_meet_strict_mode_every_property_required_and_no_others():
    """Responses tools are sent with strict=True, which the API refuses for other schemas."""
    for tool in TOOLS:
        schema = tool.parameters
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert schema["required"] == list(schema["properties"])
    show_rows = {t.name: t for t in TOOLS}["show_rows"].parameters["properties"]
    assert show_rows["count"]["type"] == ["integer", "null"]
    assert show_rows["columns"]["items"] == {"type": "string"}


def test_rendered_definitions_are_copies_a_caller_cannot_change_the_tools():
    chat_tools()[2]["function"]["parameters"]["properties"].clear()
    responses_tools()[2]["parameters"]["required"].clear()
    assert chat_tools()[2]["function"]["parameters"]["required"] == [
        "name",
        "start",
        "count",
        "columns",
    ]
    assert responses_tools()[2]["parameters"]["properties"]["count"]


def test_chat_tools_reach_the_server_through_the_sdk_as_rendered(server):
    """The local server records but does not validate tools (noted for the chat wiring)."""
    import openai

    client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        tools=chat_tools(),
    )
    assert server.chat_requests[-1].body["tools"] == chat_tools()


def test_round_limit_is_reached_at_max_rounds():
    assert MAX_ROUNDS == 5
    assert not round_limit_reached(4)
    assert round_limit_reached(5)
    assert not round_limit_reached(1, max_rounds=2) and round_limit_reached(2, max_rounds=2)


# -- list_variables -------------------------------------------------------------------------
def test_list_variables_shows_user_data_and_skips_internals_code_and_private_names(sales):
    class Thing:
        pass

    namespace = {
        "sales": sales,
        "threshold": 0.25,
        "names": ["a", "b", "c"],
        "note": "hello",
        "arr": np.zeros((3, 4)),
        "In": [""],
        "Out": {},
        "_": 1,
        "__": 2,
        "_i3": "x = 1",
        "_oh": {},
        "_private": 3,
        "exit": object(),
        "quit": object(),
        "get_ipython": lambda: None,
        "os": os,
        "helper": lambda x: x,
        "Thing": Thing,
        "print_": print,
    }
    result = call("list_variables", namespace)
    assert result.ok
    assert table_rows(result.output) == [
        ["arr", "ndarray", "shape (3, 4)"],
        ["names", "list", "3 items"],
        ["note", "str", "5 characters"],
        ["sales", "DataFrame", "96 rows × 4 columns"],
        ["threshold", "float", "0.25"],
    ]
    assert result.output.startswith("5 variables in the kernel (")
    assert result.summary == "🔧 list_variables() → 5 variables"


def test_list_variables_lists_at_most_100_names_and_says_how_many_there_are():
    namespace = {f"v{i:03}": i for i in range(130)}
    result = call("list_variables", namespace, options=Options(max_chars=100_000))
    rows = table_rows(result.output)
    assert len(rows) == 100 and rows[0][0] == "v000" and rows[-1][0] == "v099"
    assert result.output.startswith("130 variables in the kernel, the first 100 by name")


class Lazy(list):
    """Like Django's ``settings`` before it is configured: asking for ``__class__`` runs the
    lazy object's setup, which here fails (and counts how often it ran)."""

    setups = 0

    @property
    def __class__(self):
        Lazy.setups += 1
        raise RuntimeError("settings are not configured")


def test_list_variables_lists_a_lazy_object_without_running_its_setup():
    Lazy.setups = 0
    result = call("list_variables", {"settings": Lazy([1, 2]), "note": "hello"})
    assert result.ok, result.output
    assert table_rows(result.output) == [
        ["note", "str", "5 characters"],
        ["settings", "Lazy", "2 items"],
    ]
    assert Lazy.setups == 0


def test_list_variables_of_an_empty_kernel_says_so():
    result = call("list_variables", {"In": [], "_": None})
    assert result.ok and result.output.startswith("No variables in the kernel yet")
    assert result.summary == "🔧 list_variables() → no variables"


def test_empty_arguments_text_counts_as_no_arguments():
    result = run_tool("list_variables", "", {"x": 1})
    assert result.ok and result.arguments == {}


# -- describe_variable ----------------------------------------------------------------------
def test_describe_variable_is_the_same_rendering_as_name_in_a_prompt(sales):
    options = Options(rows=3, stats=True, max_chars=4000)
    result = call("describe_variable", {"sales": sales}, options=options, name="sales")
    assert result.ok
    assert result.output == describe(sales, "sales", options)
    assert result.summary == "🔧 describe_variable(sales) → 96 rows × 4 columns"
    assert result.arguments == {"name": "sales"}


def test_describe_variable_of_plain_values():
    namespace = {"items": [1, 2, 3], "n": 7}
    assert call("describe_variable", namespace, name="items").output == "[1, 2, 3]"
    result = call("describe_variable", namespace, name="n")
    assert result.output == "7" and result.summary == "🔧 describe_variable(n) → 7"


# -- show_rows ------------------------------------------------------------------------------
def test_show_rows_shows_exactly_the_rows_asked_for(sales):
    result = call("show_rows", {"sales": sales}, name="sales", start=10, count=3)
    assert result.ok
    assert table_rows(result.output) == [
        ["10", "east", "10", "1.5", "110"],
        ["11", "west", "11", "1.5", "111"],
        ["12", "north", "12", "1.5", "112"],
    ]
    assert result.output.startswith("`sales`: DataFrame, rows 10–12 of 96:")
    assert result.summary == "🔧 show_rows(sales, start=10, count=3) → rows 10–12 of 96"


def test_show_rows_defaults_to_the_first_ten_rows(sales):
    result = call("show_rows", {"sales": sales}, name="sales", start=None, count=None)
    assert [row[0] for row in table_rows(result.output)] == [str(i) for i in range(10)]
    assert result.summary == "🔧 show_rows(sales, start=0, count=10) → rows 0–9 of 96"


def test_show_rows_stops_at_the_last_row(sales):
    result = call("show_rows", {"sales": sales}, name="sales", start=95, count=10)
    assert [row[0] for row in table_rows(result.output)] == ["95"]


def test_show_rows_allows_50_rows_per_call(sales):
    result = call(
        "show_rows", {"sales": sales}, options=Options(max_chars=100_000), name="sales", count=50
    )
    assert result.ok and len(table_rows(result.output)) == 50
    assert "cut to" not in result.output


def test_show_rows_cuts_51_rows_to_50_and_tells_the_model(sales):
    result = call(
        "show_rows", {"sales": sales}, options=Options(max_chars=100_000), name="sales", count=51
    )
    assert result.ok and len(table_rows(result.output)) == 50
    assert table_rows(result.output)[-1][0] == "49"
    assert result.output.endswith(
        "(count 51 was cut to 50: at most 50 per call; call again for more.)"
    )
    assert result.summary == "🔧 show_rows(sales, start=0, count=50) → rows 0–49 of 96"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"count": 0}, "count must be at least 1, not 0."),
        ({"start": -1}, "start must be at least 0, not -1."),
        ({"start": 96}, "start 96 is past the end: `sales` has 96 rows (positions 0 to 95)."),
        ({"count": "10"}, 'count must be an integer, not "10".'),
        ({"count": 10.0}, "count must be an integer, not 10.0."),
        ({"count": True}, "count must be an integer, not true."),
        ({"columns": "region"}, 'columns must be an array of strings, not "region".'),
        ({"columns": [2024]}, "columns must be an array of strings, not [2024]."),
    ],
)
def test_show_rows_refuses_bad_numbers_and_types(sales, arguments, error):
    result = call("show_rows", {"sales": sales}, name="sales", **arguments)
    assert not result.ok and result.output == f"Error: {error}"


def test_show_rows_shows_named_columns_matched_by_label(sales):
    result = call("show_rows", {"sales": sales}, name="sales", count=2, columns=["units", "2024"])
    assert result.output.splitlines()[2] == "|  | units | 2024 |"
    assert table_rows(result.output) == [["0", "0", "100"], ["1", "1", "101"]]


def test_show_rows_refuses_an_unknown_column_and_lists_the_real_ones(sales):
    result = call("show_rows", {"sales": sales}, name="sales", columns=["units", "sales.region"])
    assert not result.ok
    assert result.output == (
        "Error: `sales` has no column 'sales.region'. "
        "Its columns: 'region', 'units', 'price', '2024'."
    )
    assert result.summary == (
        "🔧 show_rows(sales, start=0, count=10, columns=[units, sales.region]) "
        "→ error: no such column"
    )


def test_show_rows_shows_at_most_12_columns():
    wide = pd.DataFrame([range(20)], columns=[f"c{i}" for i in range(20)])
    result = call("show_rows", {"wide": wide}, name="wide")
    assert table_rows(result.output) == [[str(i) for i in [0, *range(12)]]]
    assert "the first 12 of 20 columns" in result.output.splitlines()[0]
    named = call(
        "show_rows", {"wide": wide}, name="wide", columns=[f"c{i}" for i in range(19, 4, -1)]
    )
    assert (
        named.output.splitlines()[2]
        == "|  | " + " | ".join(f"c{i}" for i in range(19, 7, -1)) + " |"
    )
    assert "12 of the 15 columns asked for" in named.output.splitlines()[0]


def test_show_rows_of_a_series_array_list_and_dict():
    namespace = {
        "s": pd.Series([5, 6, 7], name="units"),
        "v": np.array([1.5, 2.5, 3.5]),
        "m": np.arange(6).reshape(2, 3),
        "items": [{"id": i} for i in range(5)],
        "cfg": {"a": 1, "b": "two", "c": None},
    }
    series = call("show_rows", namespace, name="s", start=1)
    assert series.output.splitlines()[2] == "|  | units |"
    assert table_rows(series.output) == [["1", "6"], ["2", "7"]]
    assert table_rows(call("show_rows", namespace, name="v", count=2).output) == [
        ["0", "1.5"],
        ["1", "2.5"],
    ]
    assert table_rows(call("show_rows", namespace, name="m").output) == [
        ["0", "0", "1", "2"],
        ["1", "3", "4", "5"],
    ]
    items = call("show_rows", namespace, name="items", start=3)
    assert items.output == "`items`: list, items 3–4 of 5:\n\n3: {'id': 3}\n4: {'id': 4}"
    cfg = call("show_rows", namespace, name="cfg", start=1)
    assert cfg.output == "`cfg`: dict, items 1–2 of 3:\n\nb: 'two'\nc: None"


def test_show_rows_refuses_columns_for_anything_but_a_frame_and_values_without_rows():
    namespace = {"items": [1, 2], "n": 3, "text": "abc"}
    assert call("show_rows", namespace, name="items", columns=["a"]).output == (
        "Error: columns apply to DataFrames only; `items` is a list: pass columns null."
    )
    for name, kind in [("n", "int"), ("text", "str")]:
        result = call("show_rows", namespace, name=name)
        assert not result.ok and f"`{name}` is a {kind}: use describe_variable." in result.output


def test_show_rows_of_an_empty_frame_says_it_is_empty():
    result = call("show_rows", {"empty": pd.DataFrame({"a": []})}, name="empty", start=0)
    assert result.ok and result.output.startswith("`empty`: DataFrame, empty (0 rows):")


# -- value_counts ---------------------------------------------------------------------------
def test_value_counts_counts_a_column_most_frequent_first():
    frame = pd.DataFrame({"city": ["b", "a", "b", "c", "b", "a", None, "c", "b", "b"]})
    result = call("value_counts", {"frame": frame}, name="frame", column="city")
    assert result.ok
    assert table_rows(result.output) == [
        ["b", "5", "50.0%"],
        ["a", "2", "20.0%"],
        ["c", "2", "20.0%"],
        ["nan", "1", "10.0%"],
    ]
    assert result.output.startswith("`frame` column 'city': 10 rows, 4 distinct values:")
    assert result.summary == "🔧 value_counts(frame, column=city, top=20) → 4 distinct values"


def test_value_counts_allows_50_values_and_cuts_51_to_50():
    series = pd.Series([i for i in range(60) for _ in range(60 - i)], name="n")
    wide = Options(max_chars=100_000)
    fifty = call("value_counts", {"s": series}, options=wide, name="s", top=50)
    assert len(table_rows(fifty.output)) == 50 and "cut to" not in fifty.output
    assert table_rows(fifty.output)[-1] == ["49", "11", "0.6%"]
    assert fifty.output.endswith("… and 10 more values in 55 rows.")
    more = call("value_counts", {"s": series}, options=wide, name="s", top=51)
    assert len(table_rows(more.output)) == 50
    assert more.output.endswith("(top 51 was cut to 50: at most 50 per call; call again for more.)")


def test_value_counts_refusals():
    namespace = {"frame": pd.DataFrame({"a": [1], "b": [2]}), "s": pd.Series([1]), "n": [1, 1]}
    cases = [
        ({"name": "frame"}, "Error: `frame` is a DataFrame: name the column to count."),
        (
            {"name": "frame", "column": "c"},
            "Error: `frame` has no column 'c'. Its columns: 'a', 'b'.",
        ),
        ({"name": "s", "column": "a"}, "Error: `s` is a Series: pass column null."),
        ({"name": "n"}, "Error: value_counts reads a DataFrame column or a Series; `n` is a list."),
        ({"name": "s", "top": 0}, "Error: top must be at least 1, not 0."),
    ]
    for arguments, error in cases:
        result = call("value_counts", namespace, **arguments)
        assert (result.ok, result.output) == (False, error)


def test_a_value_that_fails_while_read_is_an_error_for_the_model_not_an_exception():
    class Flaky(collections.abc.Sequence):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            raise OSError("the disk is gone")

    result = call("show_rows", {"rows": Flaky()}, name="rows")
    assert not result.ok
    assert result.output == "Error: show_rows could not read the value: OSError: the disk is gone"
    assert result.summary == "🔧 show_rows(rows, start=0, count=10) → error: OSError"


# -- last_error -----------------------------------------------------------------------------
def test_last_error_before_any_exception_says_there_is_none():
    result = call("last_error", {})
    assert result.ok and result.output == "No cell has raised an exception in this kernel yet."
    assert result.summary == "🔧 last_error() → no error yet"


def test_last_error_is_the_prompt_text_of_the_kernels_last_exception_masked():
    error = LastError("KeyError", f"'{KEY}'", f"KeyError: '{KEY}'", execution_count=4)
    result = call("last_error", {}, secrets=[KEY], last_error=error)
    assert result.output == error.prompt_text().replace(KEY, "***")
    assert result.summary == "🔧 last_error() → KeyError"


# -- refusals: names are never expressions --------------------------------------------------
class Spy:
    """Records any attribute read, item read or call: a tool must do none of them."""

    touched: typing.ClassVar[list[str]] = []

    def __getattr__(self, name):
        Spy.touched.append(name)
        return self

    def __getitem__(self, key):
        Spy.touched.append(f"[{key}]")
        return self

    def __call__(self, *args):
        Spy.touched.append("()")
        return self

    def __repr__(self):
        return "Spy()"


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("spy.columns", "not a variable name"),
        ("spy['x']", "not a variable name"),
        ("spy.drop('x')", "not a variable name"),
        ("spy()", "not a variable name"),
        ("os.system", "not a variable name"),
        ("__import__('os').system('id')", "not a variable name"),
        ("spy + 1", "not a variable name"),
        ("class", "not a variable name"),
        ("", "not a variable name"),
        ("__class__", "private name"),
        ("_secret", "private name"),
        ("missing", "no variable 'missing'"),
    ],
)
def test_a_name_that_is_not_a_public_variable_is_refused_and_nothing_is_read(name, short):
    Spy.touched.clear()
    namespace = {"spy": Spy(), "os": os, "_secret": 1}
    for tool in ("describe_variable", "show_rows", "value_counts"):
        result = call(tool, namespace, name=name)
        assert not result.ok and result.summary.endswith(f"→ error: {short}")
    assert Spy.touched == []


def test_a_plain_name_is_read_with_its_repr_only():
    Spy.touched.clear()
    result = call("describe_variable", {"spy": Spy()}, name="spy")
    assert result.output == "Spy()" and Spy.touched == []


@pytest.mark.parametrize(
    ("tool", "arguments", "error", "short"),
    [
        (
            "run_code",
            "{}",
            "Unknown tool 'run_code'. The tools are: " + ", ".join(NAMES) + ".",
            "unknown tool",
        ),
        (
            "show_rows",
            '{"name": ',
            "The arguments are not valid JSON (Expecting value: line 1 column 10 (char 9)). "
            "Send a JSON object.",
            "malformed JSON",
        ),
        (
            "show_rows",
            '["sales"]',
            "The arguments must be a JSON object.",
            "arguments not an object",
        ),
        (
            "show_rows",
            '{"name": "sales", "query": "units > 3"}',
            "show_rows has no argument 'query'; it takes: name, start, count, columns.",
            "unknown argument",
        ),
        (
            "list_variables",
            '{"all": true}',
            "list_variables has no argument 'all'; it takes: no arguments.",
            "unknown argument",
        ),
        ("describe_variable", "{}", "describe_variable needs the argument 'name'.", "name missing"),
        (
            "describe_variable",
            '{"name": ["sales"]}',
            'name must be a string, not ["sales"].',
            "bad name",
        ),
    ],
)
def test_malformed_calls_get_an_error_the_model_can_act_on(sales, tool, arguments, error, short):
    result = run_tool(tool, arguments, {"sales": sales})
    assert (result.ok, result.output) == (False, f"Error: {error}")
    assert result.summary.endswith(f"→ error: {short}")


def test_arguments_nested_too_deep_for_the_json_parser_are_malformed_json():
    result = run_tool("show_rows", "[" * 100_000, {})
    assert not result.ok and result.output.startswith("Error: The arguments are not valid JSON (")
    assert result.summary == "🔧 show_rows() → error: malformed JSON"


def test_a_value_whose_repr_fails_is_an_error_for_the_model_not_an_exception():
    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr today")

    result = call("describe_variable", {"b": Broken()}, name="b")
    assert not result.ok
    assert result.output == (
        "Error: describe_variable could not read the value: RuntimeError: no repr today"
    )


# -- masking and caps -----------------------------------------------------------------------
def test_a_secret_in_a_string_variable_is_masked():
    result = call("describe_variable", {"token": f"Bearer {KEY}"}, secrets=[KEY], name="token")
    assert result.output == "Bearer ***"


def test_a_secret_cut_by_the_character_cap_leaves_no_prefix():
    text = "x" * 3990 + KEY
    result = call("describe_variable", {"text": text}, secrets=[KEY], name="text")
    assert KEY[:8] not in result.output and result.output.startswith("x" * 3990 + "***")


def test_a_secret_in_a_table_cell_is_masked_before_the_cell_is_shortened():
    frame = pd.DataFrame({"header": [f"Authorization: Bearer {KEY}"]})
    shown = call("show_rows", {"frame": frame}, secrets=[KEY], name="frame")
    assert table_rows(shown.output) == [["0", "Authorization: Bearer ***"]]
    counted = call("value_counts", {"frame": frame}, secrets=[KEY], name="frame", column="header")
    assert table_rows(counted.output) == [["Authorization: Bearer ***", "1", "100.0%"]]
    items = call("show_rows", {"items": [KEY * 20]}, secrets=[KEY], name="items")
    assert KEY[:8] not in items.output


def test_a_secret_the_model_sends_as_an_argument_is_masked_in_the_summary(sales):
    result = call("value_counts", {"sales": sales}, secrets=[KEY], name="sales", column=KEY)
    assert KEY[:8] not in result.summary + result.output
    assert result.summary == "🔧 value_counts(sales, column=***, top=20) → error: no such column"


def test_a_key_that_looks_like_a_name_is_masked_in_the_summary_before_it_is_cut():
    azure_like = "a" + "0f9e" * 10  # hex keys can be identifiers
    result = call("describe_variable", {}, secrets=[azure_like], name=azure_like)
    assert result.summary == "🔧 describe_variable(***) → error: no variable '***'"


def test_every_output_is_capped_at_max_chars():
    items = ["y" * 280 for _ in range(50)]
    result = call(
        "show_rows", {"items": items}, options=Options(max_chars=1000), name="items", count=50
    )
    kept, note = result.output.split("… [truncated: ")
    assert len(kept) == 1000 and note.endswith(" more characters]")
    assert int(note.split()[0].replace(",", "")) == len(describe_items_text(items)) - 1000


def describe_items_text(items: list[str]) -> str:
    lines = [f"{i}: {item!r}" for i, item in enumerate(items)]
    return f"`items`: list, items 0–{len(items) - 1} of {len(items)}:\n\n" + "\n".join(lines)


def test_the_summary_is_one_line_of_at_most_160_characters(sales):
    result = call("show_rows", {"sales": sales}, name="sales", columns=["a\nb", "c" * 40])
    assert result.summary == (
        "🔧 show_rows(sales, start=0, count=10, columns=[a b, " + "c" * 29 + "…]) "
        "→ error: no such column"
    )
    long = call("show_rows", {"sales": sales}, name="sales", columns=["a" * 40, "b" * 40, "c" * 40])
    assert len(long.summary) == 160
    assert long.summary.endswith("b" * 29 + "…, " + "c" * 24 + "… → error: no such column")


def test_tools_never_import_pandas_or_numpy():
    code = """
import json, sys
from gptmagic.tools import run_tool, chat_tools, responses_tools
namespace = {"rows": [{"a": 1}, {"a": 2}], "n": 3, "text": "hi", "cfg": {"k": "v"}}
calls = [("list_variables", {}), ("describe_variable", {"name": "rows"}),
         ("show_rows", {"name": "rows"}), ("show_rows", {"name": "cfg"}),
         ("value_counts", {"name": "rows"}), ("last_error", {})]
results = [run_tool(n, json.dumps(a), namespace).ok for n, a in calls]
chat_tools(), responses_tools()
print(json.dumps([results, "pandas" in sys.modules, "numpy" in sys.modules]))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == [[True, True, True, True, False, True], False, False]


# -- boundaries: exactly at a cap is not past it ------------------------------------------------
def test_a_kernel_of_exactly_100_variables_lists_them_all_without_a_cut_note():
    namespace = {f"v{i:03}": i for i in range(100)}
    result = call("list_variables", namespace, options=Options(max_chars=100_000))
    assert len(table_rows(result.output)) == 100
    assert result.output.startswith("100 variables in the kernel (modules, ")


def test_a_frame_of_exactly_12_columns_shows_them_all_without_a_cut_note():
    frame = pd.DataFrame([range(12)], columns=[f"c{i}" for i in range(12)])
    result = call("show_rows", {"frame": frame}, name="frame")
    assert result.output.splitlines()[0] == "`frame`: DataFrame, rows 0–0 of 1:"
    assert table_rows(result.output) == [[str(i) for i in [0, *range(12)]]]


def test_exactly_12_named_columns_are_shown_without_a_cut_note():
    wide = pd.DataFrame([range(20)], columns=[f"c{i}" for i in range(20)])
    named = [f"c{i}" for i in range(19, 7, -1)]
    result = call("show_rows", {"wide": wide}, name="wide", columns=named)
    assert result.output.splitlines()[0] == "`wide`: DataFrame, rows 0–0 of 1:"
    assert result.output.splitlines()[2] == "|  | " + " | ".join(named) + " |"


def test_a_wide_2d_array_shows_its_first_12_columns():
    matrix = np.arange(40).reshape(2, 20)
    result = call("show_rows", {"m": matrix}, name="m")
    assert result.output.splitlines()[2] == "|  | " + " | ".join(map(str, range(12))) + " |"
    assert table_rows(result.output) == [
        [str(i) for i in [0, *range(12)]],
        [str(i) for i in [1, *range(20, 32)]],
    ]


def test_exactly_top_distinct_values_are_all_shown_with_no_more_said():
    series = pd.Series([i for i in range(20) for _ in range(i + 1)], name="n")
    result = call("value_counts", {"s": series}, options=Options(max_chars=100_000), name="s")
    assert result.output.startswith("`s`: 210 rows, 20 distinct values:\n\n")
    assert len(table_rows(result.output)) == 20
    assert table_rows(result.output)[-1] == ["0", "1", "0.5%"]
    assert result.output.endswith("| 0 | 1 | 0.5% |")


def test_a_call_line_with_exactly_three_columns_names_all_three(sales):
    result = call("show_rows", {"sales": sales}, name="sales", columns=["region", "units", "price"])
    assert result.summary == (
        "🔧 show_rows(sales, start=0, count=10, columns=[region, units, price]) → rows 0–9 of 96"
    )


def test_value_counts_of_a_column_name_that_two_columns_share_is_refused():
    frame = pd.DataFrame([[1, 2], [1, 3]], columns=["a", "a"])
    result = call("value_counts", {"frame": frame}, name="frame", column="a")
    assert (result.ok, result.output) == (
        False,
        "Error: `frame` has 2 columns named 'a'; value_counts needs exactly one.",
    )
    assert result.summary == "🔧 value_counts(frame, column=a, top=20) → error: ambiguous column"


# -- masking before cutting, everywhere -----------------------------------------------------
def test_a_key_in_a_column_label_is_masked_before_the_label_is_shortened():
    frame = pd.DataFrame({f"Authorization: Bearer {KEY}": [1]})
    result = call("show_rows", {"frame": frame}, secrets=[KEY], name="frame")
    assert result.output.splitlines()[2] == "|  | Authorization: Bearer *** |"
    assert KEY[:7] not in result.output


def test_a_key_at_the_output_cap_is_masked_before_the_output_is_cut():
    """last_error's text is masked only as a whole: the cap must come after the masking."""
    error = LastError("KeyError", "x" * 40 + KEY, f"KeyError: {'x' * 40}{KEY}")
    head = "The last exception in the kernel: KeyError: "
    limit = len(head) + 40 + 8  # the cap falls 8 characters into the key
    result = call(
        "last_error", {}, secrets=[KEY], options=Options(max_chars=limit), last_error=error
    )
    assert result.output == head + "x" * 40 + "***\n\n```… [truncated: 58 more characters]"


def test_a_key_in_a_failing_reads_message_is_masked_before_the_message_is_cut():
    class Broken:
        def __repr__(self):
            raise RuntimeError("y" * 190 + KEY)  # cut at 200: ten characters into the key

    result = call("describe_variable", {"b": Broken()}, secrets=[KEY], name="b")
    assert result.output == (
        "Error: describe_variable could not read the value: RuntimeError: " + "y" * 190 + "***"
    )


def test_an_integer_past_pythons_digit_limit_is_read_by_the_tools():
    # str() of such an int raises ValueError: describe_variable failed, list_variables showed
    # no size, and show_rows of a frame holding one failed the whole table.
    big = 10**5000
    namespace = {"big": big, "frame": pd.DataFrame({"n": [big, 7]}, dtype=object)}
    described = call("describe_variable", namespace, name="big")
    assert described.ok and described.output == (
        "an integer of about 5,001 digits, ending …00000000000000000000"
    )
    listed = call("list_variables", namespace).output
    assert "| big | int | an integer of about 5,001 dig… |" in listed
    rows = call("show_rows", namespace, name="frame")
    assert rows.ok and table_rows(rows.output) == [
        ["0", "an integer of about 5,001 dig…"],
        ["1", "7"],
    ]
