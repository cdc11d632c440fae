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


def test_the_readme_command_prints_its_two_lines_and_leaves_only_the_executed_copy(tmp_path):
    """`python -m gptmagic.testing.notebook NB`: no kernel warning (TCP "without encryption",
    "Parent appears to have exited" from a kernel left running), no socket files beside NB."""
    import subprocess
    import sys

    cells = [
        nbformat.v4.new_code_cell("%load_ext gptmagic"),
        nbformat.v4.new_code_cell("%%gpt\nhi"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "nb.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "gptmagic.testing.notebook", "nb.ipynb"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Local test server: http://127.0.0.1:")
    assert lines[1:] == ["Executed nb.ipynb: 2 cells, 1 answer -> nb.executed.ipynb"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.executed.ipynb", "nb.ipynb"]
