"""``%gpt save NAME.ipynb`` typed in NAME.ipynb itself, in a real JupyterLab: refused in one
line, the notebook on disk untouched (it was replaced by the conversation export, and Lab then
offered to "revert" the open notebook to it). This is where Jupyter names the kernel's
notebook (JPY_SESSION_NAME), so only a real server proves the refusal fires."""

from __future__ import annotations

import json
from pathlib import Path

import labharness as harness
import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
CELLS = ["%load_ext gptmagic", "%%gpt\nhello", "%gpt save own.ipynb\n%gpt save own-chat.md"]

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


def test_saving_over_the_open_notebook_is_refused_and_leaves_it_as_it_was(tmp_path):
    with harness.notebook_in_lab(tmp_path, "own.ipynb", CELLS) as (_server, lab, page):
        notebook = lab.root_dir / "own.ipynb"
        before = notebook.read_bytes()
        harness.run_all(page)
        saving = harness.cell(page, 2)
        saving.locator(".jp-OutputArea-output", has_text="Cannot save").wait_for(timeout=60000)
        harness.wait_kernel_idle(lab)
        harness.screenshot(page, ARTIFACTS / "save-own-notebook.png")
        shown = saving.locator(".jp-OutputArea-output").all_inner_texts()
        assert notebook.read_bytes() == before
        assert ["".join(c["source"]) for c in json.loads(before)["cells"]] == CELLS
        assert not (lab.root_dir / "own-chat.md").exists()  # the cell stopped at the refusal
    assert shown == [
        "UsageError: Cannot save to own.ipynb: it is this kernel's own notebook, which would "
        "be replaced by the conversation; save it under another name."
    ]
