"""notebooks/analysis.ipynb executed headless in a real kernel against the local server, and
replayed from its committed cache with no key and no server at all."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

from gptmagic.pictures import png_size
from gptmagic.testing.example import ANALYSIS, CHART, COLUMNS, LOOKING, cache_path
from gptmagic.testing.example import REVENUE as CODE
from gptmagic.testing.notebook import execute, execute_with_papermill
from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import KEY
from tests.test_sharing import REPLAY_PORT, nothing_listens_on

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "analysis.ipynb"
CACHE = cache_path(NOTEBOOK)
# Run live, the notebook asks the server and leaves its committed cache alone.
LIVE = {"GPTMAGIC_CACHE_MODE": "off"}


def replies_for_the_demo(server) -> None:
    """The answers the committed notebook was recorded with (gptmagic.testing.example)."""
    server.enqueue(*ANALYSIS)


@pytest.fixture(scope="module")
def analysis():
    """The notebook run once with nbclient."""
    replies = {}

    def keep_reply(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply

    recorded = CACHE.read_bytes()
    with FakeOpenAI(api_key=KEY, lifetime=300) as server:
        replies_for_the_demo(server)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, **LIVE}
        nb = execute(NOTEBOOK, env, on_cell_executed=keep_reply)
        prompts = [r.body["messages"][-1]["content"] for r in server.chat_requests]
    assert CACHE.read_bytes() == recorded
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
    [output] = nb.cells[cell_index(nb, "%%gpt --tools")].outputs
    shown = output.data["text/markdown"].split("\n\n<sub>")[0]
    assert shown == f"{LOOKING}\n\n> 🔧 describe_variable(sales) → 96 rows × 5 columns\n\n{COLUMNS}"
    assert prompts[-1].startswith("`sales`: pandas DataFrame, 96 rows × 5 columns")


def test_the_executed_notebook_never_contains_the_key(analysis):
    nb, _, _ = analysis
    assert KEY not in str(nb)


def test_the_demo_runs_green_under_papermill(tmp_path):
    with FakeOpenAI(api_key=KEY, lifetime=300) as server:
        replies_for_the_demo(server)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, **LIVE}
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


# -- the committed notebook and its replay cache --------------------------------------------
def answers(nb) -> list[dict]:
    """The final output of each cell that asks the model (the dry run asks nothing)."""
    return [
        cell.outputs[0]
        for cell in nb.cells
        if cell.cell_type == "code"
        and cell.source.startswith("%%gpt")
        and "--dry-run" not in cell.source.splitlines()[0]
    ]


@pytest.fixture(scope="module")
def replayed():
    """The committed notebook re-executed in replay mode, with no key, against an address
    where nothing listens (a request that escaped the cache would fail its cell)."""
    assert nothing_listens_on(REPLAY_PORT), f"port {REPLAY_PORT} must be closed for this test"
    recorded = CACHE.read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        patch.delenv("GPTMAGIC_CACHE", raising=False)
        patch.setenv("GPTMAGIC_CACHE_MODE", "replay")
        patch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{REPLAY_PORT}/v1")
        nb = execute(NOTEBOOK, {}, allow_errors=True)  # a miss: an error output, asserted
    assert CACHE.read_bytes() == recorded  # a replay never writes
    return nb


def test_the_committed_notebook_was_executed_with_every_answer_recorded():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    outputs = answers(nb)
    assert len(outputs) == 5 == len(CACHE.read_text(encoding="utf-8").splitlines())
    assert all(o.metadata["gptmagic"]["status"] == "complete" for o in outputs)
    assert all(o.metadata["gptmagic"]["host"] == "127.0.0.1:47811" for o in outputs)
    assert KEY not in NOTEBOOK.read_text() + CACHE.read_text()


def test_every_answer_replays_from_the_cache_with_no_key_and_no_server(replayed):
    assert [
        o for c in replayed.cells for o in c.get("outputs", []) if o.output_type == "error"
    ] == []
    recorded = answers(nbformat.read(NOTEBOOK, as_version=4))
    again = answers(replayed)
    assert len(again) == len(recorded) == 5
    for old, new in zip(recorded, again, strict=True):
        assert new.metadata["gptmagic"]["replayed"] is True
        assert new.data["text/plain"] == old.data["text/plain"]
        old_body = old.data["text/markdown"].rsplit("\n\n<sub>", 1)[0]
        new_body = new.data["text/markdown"].rsplit("\n\n<sub>", 1)[0]
        assert new_body.startswith("> ↻ Replayed from analysis.gptcache.jsonl")
        assert new_body.endswith(f"\n\n{old_body}")


def test_the_chart_question_replays_from_the_figure_drawn_again(replayed):
    [output] = replayed.cells[cell_index(replayed, "%%gpt\nWhat does this chart show?")].outputs
    assert output.metadata["gptmagic"]["replayed"] is True
    assert output.data["text/plain"] == CHART


def test_the_tools_question_replays_its_call_line_once(replayed):
    [output] = replayed.cells[cell_index(replayed, "%%gpt --tools")].outputs
    shown = output.data["text/markdown"]
    assert shown.count("> 🔧 describe_variable(sales) → 96 rows × 5 columns") == 1
    assert output.metadata["gptmagic"]["tool_calls"][0]["name"] == "describe_variable"
