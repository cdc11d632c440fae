"""Notebooks executed headless with nbclient in a real kernel against the local server."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from gptmagic.testing.notebook import execute
from gptmagic.testing.server import FakeOpenAI, Reply, lorem
from tests.conftest import KEY

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The quickstart executed once, saved to disk, with a long paced answer queued first."""
    with FakeOpenAI(api_key=KEY, lifetime=300) as server:
        server.enqueue(Reply(tokens=300, chunk_delay=0.003))
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        nb = execute(NOTEBOOKS / "quickstart.ipynb", env)
        saved = tmp_path_factory.mktemp("nb") / "quickstart.ipynb"
        nbformat.write(nb, saved)
        yield nb, saved, list(server.chat_requests)


def gpt_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%gpt")]


def test_every_gpt_cell_saves_exactly_one_final_output(quickstart):
    nb, _, _ = quickstart
    for cell in gpt_cells(nb):
        assert len(cell.outputs) == 1, cell.source
        output = cell.outputs[0]
        assert output.output_type == "display_data"
        assert set(output.data) == {"text/markdown", "text/plain"}
        assert output.metadata["gptmagic"]["finish_reason"] in {"stop", "length"}


def test_the_streamed_answer_is_saved_whole_with_no_partial_text(quickstart):
    nb, _, _ = quickstart
    first = gpt_cells(nb)[0].outputs[0]
    assert first.data["text/plain"] == lorem(300)
    assert first.data["text/markdown"].count(lorem(300)) == 1


def test_follow_up_cells_sent_the_conversation(quickstart):
    _, _, requests = quickstart
    assert [m["role"] for m in requests[1].body["messages"]] == ["user", "assistant", "user"]


def test_the_saved_notebook_never_contains_the_key(quickstart):
    _, saved, _ = quickstart
    assert KEY not in saved.read_text()
    assert KEY[10:] not in saved.read_text()


def run_readme_command(folder: Path, *sources: str):
    """`python -m gptmagic.testing.notebook nb.ipynb` in ``folder`` on a notebook of these cells."""
    import subprocess
    import sys

    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "nb.ipynb")
    return subprocess.run(
        [sys.executable, "-m", "gptmagic.testing.notebook", "nb.ipynb"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_command_prints_its_two_lines_and_leaves_only_the_executed_copy(tmp_path):
    """`python -m gptmagic.testing.notebook NB`: no kernel warning (TCP "without encryption",
    "Parent appears to have exited" from a kernel left running), no socket files beside NB."""
    done = run_readme_command(tmp_path, "%load_ext gptmagic", "%%gpt\nhi")
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Local test server: http://127.0.0.1:")
    assert lines[1:] == ["Executed nb.ipynb: 2 cells, 1 answer -> nb.executed.ipynb"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.executed.ipynb", "nb.ipynb"]


def test_the_readme_command_names_a_failing_cell_and_its_error_without_a_traceback(tmp_path):
    """A cell that fails (a bad option here; with --real, a missing key) ends the command with
    the cell and its one-line error on stderr and exit code 1, not nbclient's traceback."""
    done = run_readme_command(
        tmp_path, "%load_ext gptmagic", "%%gpt -t 5\nhi", "print('not reached')"
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("nb.ipynb stopped at a failing cell (nothing written):\n")
    assert "%%gpt -t 5" in done.stderr
    assert "UsageError: argument -t/--temperature: must be between 0 and 2, got 5" in done.stderr
    assert "Traceback" not in done.stderr and "not reached" not in done.stderr + done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]
