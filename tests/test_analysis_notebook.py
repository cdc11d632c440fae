"""notebooks/analysis.ipynb executed headless in a real kernel against the local server."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

from gptmagic.pictures import png_size
from gptmagic.testing.notebook import execute, execute_with_papermill
from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import KEY

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "analysis.ipynb"
CODE = (
    'sales["revenue"] = sales["units"] * sales["price"]\n'
    'print(sales.groupby("region")["revenue"].sum().sort_values(ascending=False))'
)


def replies_for_the_demo(server) -> None:
    """Two prose answers, then the --code cell's answer, which carries a ```python block."""
    server.enqueue(Reply(), Reply(), Reply(text=f"Like this:\n\n```python\n{CODE}\n```"))


@pytest.fixture(scope="module")
def analysis():
    """The notebook run once with nbclient."""
    replies = {}

    def keep_reply(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply

    with FakeOpenAI(api_key=KEY, lifetime=300) as server:
        replies_for_the_demo(server)
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
    assert len(prompts) == 6  # four questions; the --tools one asked twice


def test_the_error_question_sent_the_caught_exception_with_its_traceback(analysis):
    _, prompts, _ = analysis
    assert "`failure`: KeyError: 'unit price'" in prompts[1]
    assert 'sales["units"] * sales["unit price"]' in prompts[1]  # the failing line, quoted


def test_the_chart_question_sent_the_figure_as_a_png_between_its_text(analysis):
    _, prompts, _ = analysis
    before, image, after = prompts[3]
    assert before == {"type": "text", "text": "What does this chart show? "}
    assert after["text"].startswith("\n\nWhich region stands out")
    url = image["image_url"]["url"]
    png = base64.b64decode(url.removeprefix("data:image/png;base64,"), validate=True)
    width, height = png_size(png)
    assert 500 < width <= 800 and 250 < height <= 450  # 7×3.5 in at 100 dpi, "tight"


def test_no_cell_fails_and_no_cell_relies_on_a_raises_exception_tag(analysis):
    nb, _, _ = analysis
    assert [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"] == []
    assert not any("raises-exception" in c.metadata.get("tags", []) for c in nb.cells)


def test_the_code_cell_asked_the_frontend_for_a_new_cell_below(analysis):
    nb, _, replies = analysis
    payload = replies[cell_index(nb, "%%gpt --code")]["content"]["payload"]
    assert payload == [{"source": "set_next_input", "text": CODE, "replace": False}]


def test_the_code_is_kept_in_a_variable(analysis):
    nb, _, _ = analysis
    assert nb.cells[cell_index(nb, "print(plan_code)")].outputs[0].text == CODE + "\n"


def test_the_tools_question_shows_the_call_and_an_answer_from_its_result(analysis):
    nb, prompts, _ = analysis
    shown = text_of(nb.cells[cell_index(nb, "%%gpt --tools")])
    assert "🔧 describe_variable(sales) → 96 rows × 5 columns" in shown
    assert "The data tools say: `sales`: pandas DataFrame, 96 rows × 5 columns" in shown
    assert prompts[-1].startswith("`sales`: pandas DataFrame, 96 rows × 5 columns")


def test_the_executed_notebook_never_contains_the_key(analysis):
    nb, _, _ = analysis
    assert KEY not in str(nb)


def test_the_demo_runs_green_under_papermill(tmp_path):
    with FakeOpenAI(api_key=KEY, lifetime=300) as server:
        replies_for_the_demo(server)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        nb = execute_with_papermill(NOTEBOOK, tmp_path / "analysis.out.ipynb", env)
    assert len(server.chat_requests) == 6
    assert nb.metadata.papermill.exception is None
    assert nb.cells[cell_index(nb, "print(plan_code)")].outputs[0].text == CODE + "\n"


def test_papermill_reports_a_failed_cell_with_its_one_line_message(tmp_path):
    notebook = tmp_path / "failing.ipynb"
    cells = [new_code_cell("%load_ext gptmagic"), new_code_cell("%%gpt\nhello")]
    nbformat.write(new_notebook(cells=cells), notebook)
    refusal = {"error": {"message": "messages[0] mentions a forbidden fruit", "code": None}}
    with FakeOpenAI(api_key=KEY, lifetime=120) as server:
        server.enqueue(Reply(status=400, error=refusal))
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        with pytest.raises(PapermillExecutionError) as failed:
            execute_with_papermill(notebook, tmp_path / "failing.out.ipynb", env)
    error = failed.value
    assert (error.exec_count, error.ename) == (2, "UsageError")
    assert "messages[0] mentions a forbidden fruit" in error.evalue
    assert "\n" not in error.evalue
    assert error.traceback == [f"UsageError: {error.evalue}"]
    assert f'Exception encountered at "In [2]":\nUsageError: {error.evalue}\n' in str(error)
