"""Prompt context: {name} interpolation, {_error}, in a real shell against the local server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from gptmagic.lasterror import from_exception
from tests.conftest import KEY, interrupt_when, run


def prompt_sent(server) -> str:
    return server.chat_requests[-1].body["messages"][-1]["content"]


def ask(shell, server, body: str, options: str = "") -> str:
    result = run(shell, f"%%gpt {options}\n{body}")
    assert result.success, result.error_in_exec
    return prompt_sent(server)


def test_braces_in_fenced_code_are_sent_untouched(shell, server):
    body = "Why does this fail?\n```python\nd = {}\nprint(f'{missing}')\n```\n~~~\n{x}\n~~~"
    assert ask(shell, server, body) == body


def test_braces_in_inline_backticks_are_untouched(shell, server):
    body = "Is `{missing}` or ``a {b} c`` valid?"
    assert ask(shell, server, body) == body


@pytest.mark.parametrize(
    ("body", "sent"),
    [
        ("an unmatched ` then {x}", "an unmatched ` then 7"),
        ("`` ` {x} `` then {x}", "`` ` {x} `` then 7"),  # a ` inside a `` span
        ("` `` {x} ` then {x}", "` `` {x} ` then 7"),  # a `` inside a ` span
        ("`a`` {x}", "`a`` 7"),  # neither run closes: both literal
        ("``` {x} ``` mid-line", "``` {x} ``` mid-line"),  # not a fence: an inline span
        ("` {x}\n{x} `", "` {x}\n{x} `"),  # a span may cross a line
        ("{x}```", "7```"),
    ],
)
def test_a_backtick_run_closes_only_at_the_next_run_of_its_length(shell, server, body, sent):
    shell.user_ns["x"] = 7
    assert ask(shell, server, body) == sent


def unmatched_runs(count: int) -> str:
    """Prose with backtick runs of lengths 1..count, none closed: the worst case to scan."""
    return "".join("`" * n + " word {x} " for n in range(1, count + 1))


def test_scanning_unmatched_backtick_runs_is_linear():
    from gptmagic.context import _CodeSpans

    def steps(text: str) -> int:
        spans = _CodeSpans(text)
        pos = 0
        while (pos := text.find("`", pos)) != -1:
            pos = spans.end(pos)
        return spans.steps

    small, large = unmatched_runs(400), unmatched_runs(1600)  # 80 kB and 1.3 MB
    assert steps(small) == 400 and steps(large) == 1600  # each run passed once, never rescanned
    assert len(large) > 15 * len(small)


def test_a_prompt_of_unmatched_backtick_runs_is_interpolated_outside_them(shell, server):
    shell.user_ns["x"] = 7
    body = unmatched_runs(300)
    assert ask(shell, server, body) == body.replace("{x}", "7").strip()


def test_half_an_emoji_in_a_variable_is_sent_as_a_replacement_character(shell, server):
    shell.user_ns["s"] = "smile \ud83d!"
    assert ask(shell, server, "say {s}") == "say smile \ufffd!"


@pytest.mark.parametrize(
    "body",
    ["d = {} is empty", 'parse {"a": {"b": 1}}', "{x: 1 for x in y}", "{a + b}", "a {0} b"],
)
def test_braces_around_anything_but_a_name_are_left_as_typed(shell, server, body):
    assert ask(shell, server, body) == body


def footer_notes(outputs) -> str:
    return outputs.outputs[-1]["data"]["text/markdown"]


def test_a_call_on_a_kernel_variable_is_sent_as_typed_and_the_footer_says_so(
    shell, server, outputs
):
    shell.user_ns["df"] = pd.DataFrame({"price": [1, 2]})
    assert ask(shell, server, "Look at {df.head()} and {len(df)}") == (
        "Look at {df.head()} and {len(df)}"
    )
    assert (
        "ⓘ {df.head()}, {len(df)} were sent as typed: prompts fill in names, attributes and "
        "literal subscripts"
    ) in footer_notes(outputs)


def test_with_tools_on_the_note_does_not_suggest_tools(shell, server, outputs):
    shell.user_ns["df"] = pd.DataFrame({"price": [1, 2]})
    ask(shell, server, "Look at {df.head()}", "--tools")
    note = footer_notes(outputs)
    assert "ⓘ {df.head()} was sent as typed" in note
    assert "its tools let the model look at more" in note
    assert "--tools" not in note


def test_without_tools_the_note_names_tools(shell, server, outputs):
    shell.user_ns["df"] = pd.DataFrame({"price": [1, 2]})
    ask(shell, server, "Look at {df.head()}")
    assert "{df} sends a frame's first rows; --tools lets the model look at more" in (
        footer_notes(outputs)
    )


def test_a_call_quoting_the_key_is_noted_with_the_key_masked(shell, server, outputs):
    shell.user_ns["df"] = pd.DataFrame({"price": [1, 2]})
    ask(shell, server, f"Look at {{df.get('{KEY}')}}")
    assert "ⓘ {df.get('***')} was sent as typed" in footer_notes(outputs)
    assert KEY not in json.dumps(outputs.outputs)


@pytest.mark.parametrize(
    "body",
    [
        "Explain {print(x)}",  # print is no variable of the kernel
        "Jinja: {{df.head()}}",  # literal braces
        "Code: `{df.head()}`",  # inline code
        "Look at {df}",  # filled in
    ],
)
def test_no_note_for_a_call_on_no_kernel_variable_or_outside_prose(shell, server, outputs, body):
    shell.user_ns["df"] = pd.DataFrame({"price": [1, 2]})
    ask(shell, server, body)
    assert "sent as typed" not in footer_notes(outputs)


def test_double_braces_are_literal_braces(shell, server):
    assert ask(shell, server, "Jinja writes {{ name }} and {{missing}}") == (
        "Jinja writes { name } and {missing}"
    )


def test_unknown_name_is_a_one_line_error_and_nothing_is_sent(shell, server, capsys):
    result = run(shell, "%%gpt\nSummarise {sales}")
    err = capsys.readouterr().err
    assert not result.success
    assert err.startswith("UsageError:") and "Traceback" not in err
    assert "'sales'" in err and "{{sales}}" in err
    assert server.chat_requests == []


def test_unknown_name_leaves_the_conversation_as_it_was(shell, server):
    run(shell, "%%gpt\nfirst")
    run(shell, "%%gpt --new\nsecond {missing}")
    run(shell, "%%gpt\nthird")
    assert server.chat_requests[-1].body["messages"][0]["content"] == "first"


def test_failing_attribute_is_a_one_line_error_and_nothing_is_sent(shell, server, capsys):
    run(shell, "x = 5")
    result = run(shell, "%%gpt\nWhat is {x.colums}?")
    err = capsys.readouterr().err
    assert not result.success and "Cannot read {x.colums}: AttributeError" in err
    assert len(err.strip().splitlines()) == 1
    assert server.chat_requests == []


def test_private_attributes_are_refused(shell, server, capsys):
    run(shell, "x = 5")
    result = run(shell, "%%gpt\n{x.__class__}")
    assert not result.success and "private attribute '__class__'" in capsys.readouterr().err
    assert server.chat_requests == []


def test_single_underscore_attributes_are_refused_too(shell, server, capsys):
    run(shell, "class Account:\n    _token = 'hidden'\n    owner = 'ann'")
    run(shell, "acct = Account()")
    assert ask(shell, server, "{acct.owner}") == "ann"
    result = run(shell, "%%gpt\n{acct._token}")
    assert not result.success and "private attribute '_token'" in capsys.readouterr().err
    assert len(server.chat_requests) == 1


def test_an_unclosed_fence_is_sent_untouched_to_the_end(shell, server):
    body = "Why?\n```python\nprint(f'{missing}')\nd = {x}"
    assert ask(shell, server, body) == body


def test_attribute_access_and_subscripts_are_read(shell, server):
    shell.user_ns["df"] = pd.DataFrame({"region": ["N", "S"], "units": [3, 4]})
    sent = ask(shell, server, "Columns {df.columns}; first unit {df['units'][0]}")
    assert "Index(['region', 'units']" in sent and "first unit 3" in sent


def test_in_and_out_quote_earlier_cells(shell, server):
    run(shell, "total = 6 * 7")
    run(shell, "total")
    sent = ask(shell, server, "Cell 1 was {In[1]}, it printed {Out[2]}")
    assert sent == "Cell 1 was total = 6 * 7, it printed 42"


def test_string_values_are_inserted_as_they_are(shell, server):
    shell.user_ns["question"] = "Which region sells most?"
    assert ask(shell, server, "Q: {question}") == "Q: Which region sells most?"


def test_an_integer_past_pythons_digit_limit_is_sent_as_its_size_and_last_digits(shell, server):
    # str() of an int over sys.get_int_max_str_digits() (4300) raises ValueError: the cell
    # failed with "Cannot read {n}: ValueError: Exceeds the limit (4300 digits)".
    run(shell, "import math; n = math.factorial(2000); m = -(10**4300); k = 10**4299")
    sent = ask(shell, server, "How big is {n}? {m} {k}")
    head, tail = "How big is an integer of about 5,736 digits, ending …", "0" * 20
    assert sent.startswith(head + tail + "? a negative integer of about 4,301 digits")
    assert " 1" + "0" * 1000 in sent  # at the limit: written out (then capped), as before


def test_an_integer_past_pythons_digit_limit_inside_a_list_is_sent_as_its_size(shell, server):
    run(shell, "xs = [10**5000, 3, {'a': 10**200}]")
    big, small = "an integer of about 5,001 digits, ending …" + "0" * 20, "1" + "0" * 47
    assert ask(shell, server, "{xs}").startswith(f"[{big}, 3, {{'a': {small}...")


def test_dataframe_is_shape_dtypes_and_first_rows_as_a_table(shell, server):
    shell.user_ns["df"] = pd.DataFrame({"region": list("NSEW") * 3, "units": range(12)})
    sent = ask(shell, server, "Look at {df}")
    assert "`df`: pandas DataFrame, 12 rows × 2 columns" in sent
    assert "region (" in sent and "units (int64)" in sent
    assert "|  | region | units |" in sent and "| 4 | N | 4 |" in sent
    assert "| 5 | S | 5 |" not in sent  # five rows by default


def test_a_million_row_dataframe_costs_the_same_prompt_as_a_small_one(shell, server):
    def frame(rows):
        return pd.DataFrame({"x": np.arange(rows, dtype="int64"), "y": np.zeros(rows)})

    shell.user_ns["df"] = frame(10)
    small = ask(shell, server, "{df}")
    shell.user_ns["df"] = frame(1_000_000)
    large = ask(shell, server, "{df}")
    assert len(large) - len(small) == len("1,000,000") - len("10")


def test_context_rows_sets_how_many_rows_are_shown(shell, server):
    run(shell, "%config GPTMagic.context_rows = 2")
    shell.user_ns["df"] = pd.DataFrame({"x": range(10)})
    sent = ask(shell, server, "{df}")
    assert "First 2 rows" in sent and "| 1 | 1 |" in sent and "| 2 | 2 |" not in sent


def test_summary_statistics_of_a_wide_frame_say_they_cover_the_first_12_columns(shell, server):
    run(shell, "%config GPTMagic.context_stats = True")
    shell.user_ns["df"] = pd.DataFrame(np.ones((3, 13)))
    sent = ask(shell, server, "{df}")
    assert "Summary statistics (first 12 columns):" in sent
    assert "| 11 | 3 |" in sent and "| 12 | 3 |" not in sent
    shell.user_ns["df"] = pd.DataFrame(np.ones((3, 12)))
    sent = ask(shell, server, "{df}")
    assert "Summary statistics:" in sent and "| 11 | 3 |" in sent


def test_summary_statistics_are_opt_in_and_sampled_for_large_frames(shell, server):
    shell.user_ns["df"] = pd.DataFrame({"x": np.arange(100_000, dtype="float64")})
    assert "Summary statistics" not in ask(shell, server, "{df}")
    run(shell, "%config GPTMagic.context_stats = True")
    sent = ask(shell, server, "{df}")
    assert "Summary statistics (of 10,000 evenly spaced rows out of 100,000)" in sent
    assert "| x | 10000 |" in sent


def test_series_is_name_dtype_and_first_values(shell, server):
    shell.user_ns["s"] = pd.Series([1.5, 2.25, None], name="price")
    sent = ask(shell, server, "{s}")
    assert "`s`: pandas Series 'price', 3 values, dtype float64" in sent
    assert "| 1 | 2.25 |" in sent and "| 2 | nan |" in sent


def test_a_series_shows_twenty_values_even_with_fewer_context_rows(shell, server):
    shell.user_ns["s"] = pd.Series(range(100))
    sent = ask(shell, server, "{s}")
    assert "First 20 values:" in sent and "| 19 | 19 |" in sent and "| 20 | 20 |" not in sent


def test_a_wide_dataframe_table_shows_its_first_twelve_columns(shell, server):
    shell.user_ns["df"] = pd.DataFrame({f"col{i}": [i] for i in range(20)})
    sent = ask(shell, server, "{df}")
    assert "First 1 rows (first 12 columns):" in sent
    assert "| col11 |" in sent and "| col12 |" not in sent and "col19 (int64)" in sent


def test_numpy_array_is_shape_dtype_and_a_summarised_sample(shell, server):
    shell.user_ns["a"] = np.arange(1_000_000, dtype="int32").reshape(1000, 1000)
    sent = ask(shell, server, "{a}")
    assert "`a`: NumPy array, shape (1000, 1000), dtype int32" in sent
    assert "..." in sent and "999999" in sent and len(sent) < 1000


def test_large_containers_are_cut_while_their_repr_is_built(shell, server):
    shell.user_ns["items"] = list(range(1_000_000))
    shell.user_ns["big"] = {"k": "v" * 10_000}
    items, big = ask(shell, server, "{items}\n{big}").split("\n")
    assert items.startswith("[0, 1, 2") and items.endswith("99, ...]")
    assert big.startswith("{'k': 'vvv") and len(big) < 300


def test_a_long_repr_is_capped_at_context_max_chars_with_a_note(shell, server):
    run(shell, "class Wide:\n    def __repr__(self):\n        return 'w' * 10_000")
    run(shell, "wide = Wide()")
    sent = ask(shell, server, "{wide}")
    assert sent == "w" * 4000 + "… [truncated: 6,000 more characters]"
    run(shell, "%config GPTMagic.context_max_chars = 100")
    assert len(ask(shell, server, "{wide}")) < 200


def test_last_error_is_the_type_message_and_traceback_tail(shell, server):
    run(shell, "def ratio(a, b):\n    return a / b")
    run(shell, "ratio(1, 0)")
    sent = ask(shell, server, "Why did this fail?\n{_error}")
    assert "ZeroDivisionError: division by zero" in sent
    assert "in ratio" in sent and "return a / b" in sent
    assert "interactiveshell.py" not in sent  # IPython's own frames are left out


def test_last_error_shortens_library_paths(shell, server):
    run(shell, "import pandas as pd\npd.DataFrame({'a': [1]})['b']")
    sent = ask(shell, server, "{_error}")
    assert "KeyError: 'b'" in sent and 'File "…/site-packages/pandas/' in sent
    assert pd.__file__.split("site-packages")[0] not in sent


@pytest.mark.parametrize(
    "folder", ["/tmp/ipykernel_4242", r"C:\Users\ann\AppData\Local\Temp\ipykernel_4242"]
)
def test_a_kernel_cells_file_is_named_by_its_code_hash_not_the_kernels_process(folder):
    """ipykernel's file for a cell holds its process id: the same prompt in another kernel
    would differ, and a recorded notebook asking about an error could never replay."""
    separator = "\\" if "\\" in folder else "/"
    source = "def ratio(a, b):\n    return a / b\nratio(1, 0)"
    code = compile(source, f"{folder}{separator}2647485564.py", "exec")
    try:
        exec(code, {})
    except ZeroDivisionError as exc:
        text = from_exception(exc).traceback
    assert 'File "<cell 2647485564>", line 3, in <module>' in text
    assert 'File "<cell 2647485564>", line 2, in ratio' in text
    assert "4242" not in text


def test_usage_errors_do_not_count_as_the_last_error(shell, server):
    run(shell, "int('x')")
    run(shell, "%%gpt --bogus\nhello")
    run(shell, "%%gpt\n{missing}")
    sent = ask(shell, server, "{_error}")
    assert "ValueError: invalid literal for int()" in sent and "UsageError" not in sent


def test_error_before_any_exception_says_there_is_none(shell, server, capsys):
    result = run(shell, "%%gpt\nWhy? {_error}")
    assert not result.success and "no cell has raised one yet" in capsys.readouterr().err
    assert server.chat_requests == []


def test_last_error_keeps_the_four_innermost_frames_and_not_the_cell_line_above_them(shell, server):
    run(shell, "def d():\n    return 1 / 0\ndef c():\n    return d()")
    run(shell, "def b():\n    return c()\ndef a():\n    return b()")
    run(shell, "a()")  # five frames: the cell's line, then a, b, c, d
    sent = ask(shell, server, "{_error}")
    assert [f"in {name}" in sent for name in "abcd"] == [True] * 4
    assert "in <module>" not in sent and "ZeroDivisionError: division by zero" in sent


@pytest.mark.parametrize(("length", "shown"), [(300, "x" * 300), (301, "x" * 300 + "…")])
def test_the_last_errors_headline_cuts_a_message_only_past_300_characters(
    shell, server, length, shown
):
    run(shell, f"raise ValueError('x' * {length})")
    headline = ask(shell, server, "{_error}").split("\n", 1)[0]
    assert headline == f"The last exception in the kernel (cell [1]): ValueError: {shown}"


def test_a_long_chain_of_errors_keeps_its_end_with_the_error_raised_last(shell, server):
    run(
        shell,
        "def step(n):\n"
        "    try:\n"
        "        if n == 0:\n"
        "            raise KeyError('first')\n"
        "        step(n - 1)\n"
        "    except Exception as exc:\n"
        "        raise RuntimeError(f'step {n}') from exc",
    )
    run(shell, "step(30)")
    traceback = ask(shell, server, "{_error}").split("```\n", 1)[1]
    assert traceback.startswith("…\n") and traceback.endswith("RuntimeError: step 30\n```")
    assert len(traceback) <= 3000 + len("…\n\n```") and "KeyError" not in traceback


def test_a_cell_that_does_not_compile_is_the_last_error(shell, server):
    run(shell, "int('x')")
    run(shell, "total = (1 +")
    sent = ask(shell, server, "{_error}")
    assert "SyntaxError" in sent and "ValueError" not in sent


def test_last_error_shows_the_home_folder_as_a_tilde(shell, server, tmp_path, monkeypatch):
    home = tmp_path / "ann"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    script = home / "analysis.py"
    script.write_text("def ratio(a, b):\n    return a / b\n")
    run(
        shell,
        f"ns = {{}}\nexec(compile(open({str(script)!r}).read(), {str(script)!r}, 'exec'), ns)",
    )
    run(shell, "ns['ratio'](1, 0)")
    sent = ask(shell, server, "{_error}")
    assert 'File "~/analysis.py", line 2, in ratio' in sent and str(home) not in sent


def test_last_errors_headline_shows_the_home_folder_as_a_tilde_too(
    shell, server, tmp_path, monkeypatch
):
    home = tmp_path / "ann"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    run(shell, f"open({str(home / 'sales.csv')!r})")
    sent = ask(shell, server, "{_error}")
    headline = sent.split("\n", 1)[0]
    assert headline.endswith(
        "FileNotFoundError: [Errno 2] No such file or directory: '~/sales.csv'"
    )
    assert str(home) not in sent


def test_a_second_ctrl_c_while_the_error_is_kept_shows_no_callback_traceback(
    shell, server, capsys, monkeypatch
):
    """Ctrl-C pressed twice: the second lands after the cell ended, in gptmagic's
    post_run_cell hook. IPython printed a long "Error in callback" traceback, and {_error}
    kept the exception before this one."""
    import signal

    from gptmagic import lasterror

    keep, calls = lasterror.from_result, []

    def interrupted_once(result):
        calls.append(result)
        if len(calls) == 2:  # the second failing cell's
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, delivered here
        return keep(result)

    monkeypatch.setattr(lasterror, "from_result", interrupted_once)
    run(shell, "{}['first']")
    run(shell, "1 / 0")
    printed = capsys.readouterr()
    assert "Error in callback" not in printed.out + printed.err
    assert "KeyboardInterrupt" not in printed.out + printed.err
    assert "(cell [2]): ZeroDivisionError: division by zero" in ask(shell, server, "{_error}")


def test_reload_does_not_register_the_cell_hooks_twice(shell):
    before = {e: len(shell.events.callbacks[e]) for e in ("pre_run_cell", "post_run_cell")}
    run(shell, "%reload_ext gptmagic")
    after = {e: len(shell.events.callbacks[e]) for e in ("pre_run_cell", "post_run_cell")}
    assert after == before


def test_unload_removes_the_cell_hooks(shell):
    magic = shell.magics_manager.registry["GPTMagic"]
    run(shell, "%unload_ext gptmagic")
    assert magic.session.hooks.post_run_cell not in shell.events.callbacks["post_run_cell"]
    run(shell, "%load_ext gptmagic")


def test_dry_run_shows_the_interpolated_prompt_exactly_as_sent(shell, outputs, server):
    shell.user_ns["df"] = pd.DataFrame({"x": [1, 2]})
    run(shell, "%%gpt --dry-run\nExplain {df}")
    shown = outputs.outputs[-1]["data"]["text/plain"]
    assert server.chat_requests == []
    run(shell, "%%gpt\nExplain {df}")
    assert f'"content": {json.dumps(prompt_sent(server), ensure_ascii=False)}' in shown


def test_rendering_a_prompt_never_imports_pandas():
    code = (
        "import sys\n"
        "from gptmagic.context import interpolate\n"
        "from gptmagic.describe import describe\n"
        "print(interpolate('{x}', {'x': [1, 2]}, describe))\n"
        "print('pandas' in sys.modules, 'numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[1, 2]", "False False"]


def test_a_value_whose_repr_fails_is_a_one_line_error(shell, server, capsys):
    run(shell, "class Broken:\n    def __repr__(self):\n        raise RuntimeError('no repr')")
    run(shell, "broken = Broken()")
    result = run(shell, "%%gpt\n{broken}")
    assert not result.success and "Cannot read {broken}: RuntimeError: no repr" in (
        capsys.readouterr().err
    )
    assert server.chat_requests == []


class SlowRepr:
    """A value whose repr takes a minute (a lazy proxy fetching over the network)."""

    def __init__(self):
        self.entered = threading.Event()

    def __repr__(self):
        self.entered.set()
        for _ in range(600):
            time.sleep(0.1)
        return "finally"


@pytest.mark.parametrize("cell", ["%%gpt\nWhat is {slow}?", "%gptimage a picture of {slow}"])
def test_ctrl_c_while_a_slow_value_is_read_is_one_line_and_nothing_is_sent(
    shell, server, capsys, cell
):
    shell.user_ns["slow"] = slow = SlowRepr()
    interrupt_when(slow.entered)
    started = time.monotonic()
    result = run(shell, cell)
    assert time.monotonic() - started < 10 and not result.success
    err = capsys.readouterr().err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == (
        "UsageError: Interrupted while reading {slow} into the prompt; nothing was sent."
    )
    assert server.requests == []
    assert run(shell, "%%gpt\nstill there?").success


def test_a_caught_exception_reads_like_the_last_error(shell, server):
    run(shell, "def ratio(a, b):\n    return a / b")
    run(shell, "try:\n    ratio(1, 0)\nexcept ZeroDivisionError as exc:\n    failure = exc")
    sent = ask(shell, server, "Why?\n{failure}")
    headline, _, traceback = sent.removeprefix("Why?\n\n").partition("\n\n")
    assert headline == "`failure`: ZeroDivisionError: division by zero"
    assert traceback.startswith("```\nTraceback (most recent call last):\n")
    assert "ratio(1, 0)" in traceback and "return a / b" in traceback
    assert traceback.endswith("ZeroDivisionError: division by zero\n```")


TWO_ROWS = (
    "`df`: pandas DataFrame, 2 rows × 1 column\n"
    "\n"
    "Columns (dtype): x (int64)\n"
    "\n"
    "First 2 rows:\n"
    "\n"
    "|  | x |\n"
    "|---|---|\n"
    "| 0 | 1 |\n"
    "| 1 | 2 |"
)


@pytest.mark.parametrize(
    "body, before, after",
    [
        ("See:\n{df}\nWhich is larger?", "See:\n\n", "\n\nWhich is larger?"),
        ("See: {df} Which is larger?", "See: \n\n", "\n\n Which is larger?"),
        ("See:\n\n{df}\n\nWhich is larger?", "See:\n\n", "\n\nWhich is larger?"),
        ("See:\n\n\n{df}\n\n\nWhich?", "See:\n\n\n", "\n\n\nWhich?"),
    ],
)
def test_a_table_is_a_block_with_a_blank_line_before_and_after(shell, server, body, before, after):
    shell.user_ns["df"] = pd.DataFrame({"x": [1, 2]})
    assert ask(shell, server, body) == before + TWO_ROWS + after


def test_a_block_at_the_start_or_end_of_the_prompt_gets_no_extra_lines(shell, server):
    shell.user_ns["df"] = pd.DataFrame({"x": [1, 2]})
    assert ask(shell, server, "{df}") == TWO_ROWS


def test_history_draws_the_question_after_a_table_as_its_own_paragraph(shell, server, outputs):
    shell.user_ns["df"] = pd.DataFrame({"x": [1, 2]})
    ask(shell, server, "{df}\nWhich value is larger?")
    run(shell, "%gpt history")
    markdown = outputs.outputs[-1]["data"]["text/markdown"]
    assert f"### User\n\n{TWO_ROWS}\n\nWhich value is larger?\n\n" in markdown


def test_a_cell_source_of_several_lines_is_a_python_block(shell, server):
    run(shell, "# totals\ntotal = 6 * 7")
    sent = ask(shell, server, "Explain {In[1]} briefly.")
    assert sent == "Explain \n\n```python\n# totals\ntotal = 6 * 7\n```\n\n briefly."


def test_a_repr_of_several_lines_is_a_code_block_its_fences_cannot_close(shell, server):
    run(shell, "class Tall:\n    def __repr__(self):\n        return 'a\\n```\\nb'")
    run(shell, "tall = Tall()")
    assert ask(shell, server, "{tall}") == "````\na\n```\nb\n````"
