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
