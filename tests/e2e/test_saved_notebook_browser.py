"""A conversation saved with ``%gpt save x.ipynb`` opens in JupyterLab as any notebook does: at
once, with no "Select Kernel" dialog over the first answer (Lab asks for a kernel whenever a
notebook names none, and the export only holds Markdown cells)."""

from __future__ import annotations

from pathlib import Path

import labharness as harness
import pytest

from gptmagic.conversation import Message
from gptmagic.export import from_messages, to_notebook

ARTIFACTS = Path(__file__).parent / "artifacts"
DIALOG = ".jp-Dialog"

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


def test_a_saved_conversation_opens_without_asking_for_a_kernel(tmp_path):
    root = tmp_path / "notebooks"
    root.mkdir()
    talk = from_messages([Message("user", "What is in sales?"), Message("assistant", "Units.")])
    (root / "talk.ipynb").write_text(to_notebook(talk), encoding="utf-8")
    with harness.JupyterLab(root) as lab, harness.browser(tmp_path) as page:
        harness.open_notebook(page, lab, "talk.ipynb")  # the kernel named starts on its own
        cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
        cells.nth(1).wait_for()
        harness.screenshot(page, ARTIFACTS / "saved-notebook.png")
        assert page.locator(DIALOG).count() == 0
        assert cells.all_inner_texts() == ["User\n\nWhat is in sales?", "Assistant\n\nUnits."]
