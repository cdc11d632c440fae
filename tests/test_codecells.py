"""%%gpt --code: code from the answer into a new cell below, in a real shell over HTTP.

A plain ``InteractiveShell`` implements ``set_next_input`` by setting ``rl_next_input`` (the
terminal's pre-filled next prompt); the kernel's payload is checked in
test_analysis_notebook.py.
"""

from __future__ import annotations

import pytest

from gptmagic.codecells import INSTRUCTION, extract_code
from gptmagic.testing.server import Reply, lorem
from tests.conftest import interrupt_when, run

ANSWER = "Group and sum:\n\n```python\ntotals = df.groupby('region').units.sum()\n```\n\nDone."
CODE = "totals = df.groupby('region').units.sum()"


@pytest.fixture
def inserted(shell):
    """What the cell asked the frontend to insert below (None: nothing)."""
    shell.rl_next_input = None
    return lambda: shell.rl_next_input


def test_code_option_asks_for_code_after_the_prompt(shell, server):
    run(shell, "%%gpt --code\nTotal units per region")
    assert server.chat_requests[-1].body["messages"][-1]["content"] == (
        "Total units per region" + INSTRUCTION
    )


def test_python_block_goes_to_a_new_cell_below_and_to_gpt_code(shell, server, inserted):
    server.enqueue(Reply(text=ANSWER))
    run(shell, "%%gpt --code\nTotal units per region")
    assert inserted() == CODE
    assert shell.user_ns["_gpt_code"] == CODE


def test_the_code_goes_into_a_new_cell_and_never_replaces_the_asking_one(
    shell, server, monkeypatch
):
    calls = []
    monkeypatch.setattr(
        shell, "set_next_input", lambda text, replace: calls.append((text, replace))
    )
    server.enqueue(Reply(text=ANSWER))
    run(shell, "%%gpt --code\nTotal units per region")
    assert calls == [(CODE, False)]


def test_the_answer_still_shows_and_the_code_is_a_copyable_block(shell, outputs, server):
    server.enqueue(Reply(text=ANSWER))
    run(shell, "%%gpt --code\nTotal units per region")
    answer, code = outputs.outputs
    assert answer["data"]["text/plain"] == ANSWER
    assert code["data"]["text/plain"] == CODE
    assert f"```python\n{CODE}\n```" in code["data"]["text/markdown"]
    assert code["metadata"]["gptmagic"]["code"]["inserted"] is True


def test_rerunning_the_same_cell_does_not_insert_another_cell(shell, outputs, server, inserted):
    server.enqueue(Reply(text=ANSWER), Reply(text=ANSWER.replace("sum", "mean")))
    run(shell, "%%gpt --code\nTotal units per region")
    shell.rl_next_input = None
    run(shell, "%%gpt --code\nTotal units per region")
    assert inserted() is None
    assert shell.user_ns["_gpt_code"] == CODE.replace("sum", "mean")
    assert "Not inserted again" in outputs.markdown()[-1]


def test_rerunning_a_cell_with_the_same_id_does_not_insert_even_if_edited(shell, server, inserted):
    server.enqueue(Reply(text="```python\nprint(1)\n```"), Reply(text=ANSWER))
    shell.run_cell("%%gpt --code\nTotal units", store_history=True, cell_id="cell-7")
    shell.rl_next_input = None
    shell.run_cell("%%gpt --code\nTotal units per region", store_history=True, cell_id="cell-7")
    assert inserted() is None and shell.user_ns["_gpt_code"] == CODE


# -- a notebook run again in a new kernel (Restart and Run All) -------------------------------
def saved_notebook(tmp_path, monkeypatch, below: str, kind: str = "code"):
    """The notebook Jupyter names in JPY_SESSION_NAME, as saved after an earlier run: the
    --code cell "ask", then ``below`` in a cell of ``kind``."""
    import nbformat

    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%%gpt --code\nTotal units per region", id="ask"),
            make(below, id="below"),
        ]
    )
    path = tmp_path / "analysis.ipynb"
    nbformat.write(notebook, path)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    return path


def ask_in_cell(shell, cell_id="ask"):
    shell.run_cell("%%gpt --code\nTotal units per region", store_history=True, cell_id=cell_id)


def test_code_already_below_in_the_saved_notebook_is_not_inserted_again(
    shell, server, inserted, tmp_path, monkeypatch, outputs
):
    saved_notebook(tmp_path, monkeypatch, below=CODE + "\n")
    server.enqueue(Reply(text=ANSWER))
    ask_in_cell(shell)
    assert inserted() is None and shell.user_ns["_gpt_code"] == CODE
    assert "Not inserted again" in outputs.markdown()[-1]


@pytest.mark.parametrize(
    "below, kind, cell_id",
    [
        ("print('my own cell')", "code", "ask"),  # other code below: the new code goes in
        (CODE, "markdown", "ask"),  # the same text, but not a code cell
        (CODE, "code", "another-cell"),  # the code is below another cell, not this one
    ],
)
def test_code_not_already_below_this_cell_is_inserted(
    shell, server, inserted, tmp_path, monkeypatch, below, kind, cell_id
):
    saved_notebook(tmp_path, monkeypatch, below=below, kind=kind)
    server.enqueue(Reply(text=ANSWER))
    ask_in_cell(shell, cell_id)
    assert inserted() == CODE


def test_a_relative_session_name_is_not_read(shell, server, inserted, tmp_path, monkeypatch):
    """Jupyter may give the path relative to its root, which the kernel does not know: the
    file of that name in the kernel's folder is not the notebook."""
    path = saved_notebook(tmp_path, monkeypatch, below=CODE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", path.name)
    server.enqueue(Reply(text=ANSWER))
    ask_in_cell(shell)
    assert inserted() == CODE


def test_another_cell_inserts_its_own_code(shell, server, inserted):
    server.enqueue(Reply(text=ANSWER), Reply(text="```python\nprint(totals)\n```"))
    run(shell, "%%gpt --code\nTotal units per region")
    run(shell, "%%gpt --code\nNow print them")
    assert inserted() == "print(totals)"


def test_out_with_code_stores_the_answer_and_name_code(shell, server):
    server.enqueue(Reply(text=ANSWER))
    run(shell, "%%gpt --code -o plan\nTotal units per region")
    assert shell.user_ns["plan"] == ANSWER and shell.user_ns["plan_code"] == CODE


def test_answer_without_code_inserts_nothing_and_says_so(shell, outputs, server, inserted):
    server.enqueue(Reply(text="Sorry, I cannot see your data."))
    run(shell, "%%gpt --code\nTotal units per region")
    assert inserted() is None and shell.user_ns["_gpt_code"] == ""
    assert "No Python code found" in outputs.markdown()[-1]


def test_a_block_cut_by_max_tokens_is_not_inserted(shell, outputs, server, inserted):
    # Cut after "x = 1": whole lines of code, but the block's closing fence never came.
    server.enqueue(Reply(text="```python\nimport pandas as pd\nx = 1\ny = 2\n```"))
    run(shell, "%%gpt --code --max-tokens 8\nWrite code")
    assert outputs.outputs[0]["metadata"]["gptmagic"]["finish_reason"] == "length"
    assert outputs.outputs[0]["data"]["text/plain"] == "```python\nimport pandas as pd\nx = 1\n"
    assert inserted() is None and shell.user_ns["_gpt_code"] == ""


def test_the_code_of_an_interrupted_answer_is_not_inserted(shell, outputs, server, inserted):
    answer = "```python\nx = 1\n```\n\n" + lorem(400)
    server.enqueue(Reply(text=answer, chunk_delay=0.02))
    interrupt_when(server.when_sent(6), outputs.when_shown("x = 1\n```"))
    assert not run(shell, "%%gpt --code\nWrite code").success
    final = outputs.outputs[-1]
    assert final["metadata"]["gptmagic"]["status"] == "interrupted"
    assert final["data"]["text/plain"].startswith("```python\nx = 1\n```")
    assert inserted() is None and "_gpt_code" not in shell.user_ns


def test_dry_run_with_code_sends_nothing_and_inserts_nothing(shell, server, inserted):
    run(shell, "%%gpt --code --dry-run\nTotal units per region")
    assert server.chat_requests == [] and inserted() is None


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("Try:\n```py\na = 1\n```\nthen\n```python\nb = 2\n```", "a = 1\n\nb = 2"),
        ("```bash\npip install x\n```\n```python\nimport x\n```", "import x"),
        ("No label:\n```\nx = [i for i in range(3)]\n```", "x = [i for i in range(3)]"),
        ("```\nSome prose, not code.\n```", ""),
        ("df.plot(kind='bar')", "df.plot(kind='bar')"),
        ("Use a bar chart.", ""),
        ("Hello", ""),
        ("1. Step:\n   ```python\n   y = 2\n   ```", "y = 2"),
    ],
)
def test_extract_code_prefers_python_blocks_and_never_takes_prose(answer, code):
    assert extract_code(answer) == code
