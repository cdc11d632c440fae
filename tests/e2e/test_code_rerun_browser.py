"""``%%gpt --code`` in a notebook run again from the top in a new kernel, in a real JupyterLab:
the code inserted below on the first run is not inserted a second time once the notebook is
saved (the kernel reads the saved notebook Jupyter names in JPY_SESSION_NAME), so Restart and
Run All does not pile up cells."""

from __future__ import annotations

import json
import time
from pathlib import Path

import labharness as harness
import pytest

from gptmagic.testing.server import Reply

ARTIFACTS = Path(__file__).parent / "artifacts"
ANSWER = "Sum them:\n\n```python\ntotal = sum(range(10))\n```"
CELLS = ["%load_ext gptmagic", "%%gpt --code\nAdd the numbers below ten", "print('the end')"]

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


def saved_sources(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


def save_and_wait(page, path: Path, cells: int) -> list[str]:
    """Ctrl+S in the notebook; the sources on disk once they hold ``cells`` cells."""
    harness.cell(page, 0).locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while len(sources := saved_sources(path)) != cells and time.monotonic() < deadline:
        time.sleep(0.2)
    return sources


def most_cells(page, seconds: float) -> int:
    """The most cells the notebook shows over ``seconds``."""
    most, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, page.locator(".jp-Notebook .jp-Cell").count())
        time.sleep(0.1)
    return most


def test_restart_and_run_all_does_not_insert_the_code_a_second_time(tmp_path):
    with harness.notebook_in_lab(tmp_path, "rerun.ipynb", CELLS) as (server, lab, page):
        notebook = lab.root_dir / "rerun.ipynb"
        server.enqueue(Reply(text=ANSWER), Reply(text=ANSWER))  # as the replay cache would
        harness.run_all(page)
        harness.wait_kernel_idle(lab)
        first = save_and_wait(page, notebook, cells=4)
        [session] = lab.api("GET", "/api/sessions")
        lab.api("POST", f"/api/kernels/{session['kernel']['id']}/restart")
        harness.wait_kernel_idle(lab)
        harness.run_all(page)
        deadline = time.monotonic() + 60
        while len(server.chat_requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        harness.wait_kernel_idle(lab)
        cells = most_cells(page, seconds=2)  # a cell inserted late would show within this
        harness.screenshot(page, ARTIFACTS / "code-rerun.png")
        said = harness.cell(page, 1).locator(".jp-OutputArea-output").all_inner_texts()
        assert len(server.chat_requests) == 2  # the second run did ask again
    assert first == [CELLS[0], CELLS[1], "total = sum(range(10))", CELLS[2]]
    assert cells == 4
    assert any(text.startswith("Code in _gpt_code. Not inserted again") for text in said)
