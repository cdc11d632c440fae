"""notebooks/analysis.ipynb executed headless in a real kernel against the local server."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptmagic.testing.notebook import execute
from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import KEY

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "analysis.ipynb"
CODE = (
    'sales["revenue"] = sales["units"] * sales["price"]\n'
    'print(sales.groupby("region")["revenue"].sum().sort_values(ascending=False))'
)


@pytest.fixture(scope="module")
def analysis():
    """The notebook run once; the --code cell's answer carries a ```python block."""
    replies = {}

    def keep_reply(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply

    with FakeOpenAI(api_key=KEY, lifetime=300) as server:
        server.enqueue(Reply(), Reply(), Reply(text=f"Like this:\n\n```python\n{CODE}\n```"))
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        nb = execute(NOTEBOOK, env, on_cell_executed=keep_reply)
        prompts = [r.body["messages"][-1]["content"] for r in server.chat_requests]
    yield nb, prompts, replies


def cell_index(nb, starts: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.source.startswith(starts))


def text_of(cell) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {})) for o in cell.outputs)


def test_the_dataframe_question_sent_the_frame_rendering(analysis):
    _, prompts, _ = analysis
    assert "`sales`: pandas DataFrame, 96 rows × 5 columns" in prompts[0]
    assert "units (float64)" in prompts[0]  # two months were not reported
    assert "| 0 | 2024-01-01 00:00:00 | North | Espresso machine | 14 | 249 |" in prompts[0]


def test_the_dry_run_shows_statistics_and_sends_nothing(analysis):
    nb, prompts, _ = analysis
    shown = text_of(nb.cells[cell_index(nb, "%%gpt --dry-run")])
    assert "Summary statistics" in shown and "Dry run: nothing sent" in shown
    assert len(prompts) == 3


def test_the_error_question_sent_the_last_exception(analysis):
    _, prompts, _ = analysis
    assert "KeyError: 'unit price'" in prompts[1]
    assert 'sales["units"] * sales["unit price"]' in prompts[1]


def test_only_the_cell_tagged_raises_exception_failed(analysis):
    nb, _, _ = analysis
    failed = [c for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [c.metadata.get("tags") for c in failed] == [["raises-exception"]]


def test_the_code_cell_asked_the_frontend_for_a_new_cell_below(analysis):
    nb, _, replies = analysis
    payload = replies[cell_index(nb, "%%gpt --code")]["content"]["payload"]
    assert payload == [{"source": "set_next_input", "text": CODE, "replace": False}]


def test_the_code_is_kept_in_a_variable(analysis):
    nb, _, _ = analysis
    assert nb.cells[cell_index(nb, "print(plan_code)")].outputs[0].text == CODE + "\n"


def test_the_executed_notebook_never_contains_the_key(analysis):
    nb, _, _ = analysis
    assert KEY not in str(nb)
