"""Proves the browser harness: an ipywidgets slider moved in real JupyterLab reaches the kernel."""

from __future__ import annotations

from pathlib import Path

import labharness as harness
import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
SLIDER_CELL = (
    "import ipywidgets as widgets\n"
    "slider = widgets.IntSlider(value=5, min=0, max=100, description='level')\n"
    "slider"
)
PRINT_CELL = "print(f'kernel sees value={slider.value}')"
PRESSES = 3

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


def test_slider_round_trip(tmp_path):
    """Run all, nudge the slider with the keyboard, and check the kernel reports the new value."""
    from playwright.sync_api import expect

    root = tmp_path / "notebooks"  # kept apart from the browser profile that browser() makes
    root.mkdir()
    harness.write_notebook(root / "harness.ipynb", [SLIDER_CELL, PRINT_CELL])
    with harness.JupyterLab(root) as lab, harness.browser(tmp_path) as page:
        harness.open_notebook(page, lab, "harness.ipynb")
        harness.run_all(page)
        output = harness.cell(page, 1).locator(".jp-OutputArea-output")
        expect(output).to_contain_text("kernel sees value=5", timeout=30_000)

        handle = harness.cell(page, 0).locator(".widget-slider .noUi-handle")
        expect(handle).to_be_visible()
        harness.screenshot(page, ARTIFACTS / "harness-1-rendered.png")

        handle.focus()
        for _ in range(PRESSES):
            handle.press("ArrowRight")
        expect(harness.cell(page, 0).locator(".widget-readout")).to_have_text(str(5 + PRESSES))

        harness.wait_kernel_idle(lab)
        harness.run_cell(page, 1)
        expect(output).to_contain_text(f"kernel sees value={5 + PRESSES}", timeout=30_000)
        harness.screenshot(page, ARTIFACTS / "harness-2-after-keys.png")
