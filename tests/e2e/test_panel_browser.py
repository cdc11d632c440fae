"""%gpt panel in a real JupyterLab and Chromium: changes made in the browser reach the request.

The panel is shown, its temperature slider moved with the keyboard and a model picked from the
dropdown (filled from the local server's /v1/models); then a %%gpt cell runs against the local
server, which records the request and streams a paced answer. A MutationObserver in the page
records each state of the answer's Markdown, so streaming is seen as the user sees it.
"""

from __future__ import annotations

import re
from pathlib import Path

import labharness as harness
import pytest

from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import KEY

ARTIFACTS = Path(__file__).parent / "artifacts"
ANSWER = (
    "Streaming works: this answer arrives a few words at a time, so the cell shows it "
    "growing while the model writes, and the final version replaces it in place."
)
CELLS = [
    "%load_ext gptmagic\n%gpt panel",
    "%%gpt\nSay something short about streaming.",
    "%config GPTMagic.temperature = 0.2",
]
PRESSES = 3  # ArrowRight presses on the temperature slider: 1.00 -> 1.15 (step 0.05)
RECORD_STATES = """cell => {
    window.answerStates = [];
    const record = () => {
        const out = cell.querySelector('.jp-OutputArea-output.jp-RenderedMarkdown');
        const text = out ? out.textContent.trim() : '';
        const states = window.answerStates;
        if (text && text !== states[states.length - 1]) states.push(text);
    };
    new MutationObserver(record).observe(
        cell, {subtree: true, childList: true, characterData: true});
}"""

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


def test_panel_changes_reach_the_request_and_the_answer_streams(tmp_path):
    from playwright.sync_api import expect

    root = tmp_path / "notebooks"  # apart from the browser profile that browser() makes
    root.mkdir()
    harness.write_notebook(root / "panel.ipynb", CELLS)
    with FakeOpenAI(api_key=KEY, lifetime=300) as server:
        server.enqueue(Reply(text=ANSWER, chunk_delay=0.1))
        env = {
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": server.base_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        with harness.JupyterLab(root, extra_env=env) as lab, harness.browser(tmp_path) as page:
            harness.open_notebook(page, lab, "panel.ipynb")
            harness.run_cell(page, 0)
            panel = harness.cell(page, 0).locator(".gptmagic-panel")
            select = panel.locator(".gptmagic-model select")
            expect(select.locator("option", has_text="gpt-4.1")).to_have_count(1, timeout=30_000)
            expect(select).to_have_value("gpt-4o-mini")
            harness.screenshot(page, ARTIFACTS / "panel-1-shown.png")

            temperature = panel.locator(".gptmagic-temperature")
            handle = temperature.locator(".noUi-handle")
            handle.focus()
            for _ in range(PRESSES):
                handle.press("ArrowRight")
            expect(temperature.locator(".widget-readout")).to_have_text("1.15")
            # The kernel unticks "server default" when the trait gets a value: a round trip.
            expect(temperature.locator("input[type=checkbox]")).not_to_be_checked()
            select.select_option("gpt-4.1")
            harness.screenshot(page, ARTIFACTS / "panel-2-changed.png")

            answer_cell = harness.cell(page, 1)
            answer_cell.evaluate(RECORD_STATES)
            harness.run_cell(page, 1)
            page.wait_for_function("window.answerStates.length >= 3", timeout=30_000)
            harness.screenshot(page, ARTIFACTS / "panel-3-streaming.png")
            output = answer_cell.locator(".jp-OutputArea-output.jp-RenderedMarkdown")
            expect(output).to_contain_text("replaces it in place.", timeout=30_000)
            expect(panel).to_contain_text(re.compile(r"usage: [1-9][\d,]* tokens this kernel"))

            harness.run_cell(page, 2)
            expect(temperature.locator(".widget-readout")).to_have_text("0.20", timeout=30_000)
            harness.wait_kernel_idle(lab)
            harness.screenshot(page, ARTIFACTS / "panel-4-answered.png")
            states = page.evaluate("window.answerStates")

    body = server.chat_requests[-1].body
    assert body["model"] == "gpt-4.1"
    assert body["temperature"] == pytest.approx(1.0 + 0.05 * PRESSES)
    partial = [s for s in states if s.startswith("Streaming works") and ANSWER not in s]
    assert len(partial) >= 2, states
    assert [len(s) for s in partial] == sorted(len(s) for s in partial)
    assert ANSWER in states[-1]
