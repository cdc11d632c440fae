"""A streamed answer as the browser shows it: model-written HTML stays text, and a long code
block frozen while it streams ends as one block.

Both promises live in the page, not in the kernel: JupyterLab renders live outputs as trusted
HTML, so a raw ``<img onerror>`` in an answer would run there; and a code block frozen at a
line while it streams is shown as several blocks until the final output joins them.
"""

from __future__ import annotations

from pathlib import Path

import labharness as harness
import pytest

from gptmagic.testing.server import Reply

ARTIFACTS = Path(__file__).parent / "artifacts"
HOSTILE = (
    "Here is a picture <img src=x onerror=\"document.body.dataset.pwned='img'\"> and a "
    "script <script>document.body.dataset.pwned='script'</script> that must stay text."
)
CODE_LINES = [f"value_{i} = compute({i}, scale=2.5)" for i in range(40)]
CODE = "Here is the code:\n\n```python\n" + "\n".join(CODE_LINES) + "\n```\n\nDone."
CELLS = ["%load_ext gptmagic", "%%gpt\nShow me HTML.", "%%gpt\nWrite a long function."]
RECORD = """cell => {
    window.states = [];
    const record = () => {
        const outs = [...cell.querySelectorAll('.jp-OutputArea-output')];
        const text = outs.map(o => o.textContent).join('');
        const blocks = cell.querySelectorAll('.jp-OutputArea-output pre').length;
        const last = window.states[window.states.length - 1];
        if (text && (!last || last.text !== text)) window.states.push({text, blocks});
    };
    new MutationObserver(record).observe(
        cell, {subtree: true, childList: true, characterData: true});
}"""

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """Run both cells in one Lab; return what the page showed for each."""
    seen = {}
    opened = harness.notebook_in_lab(tmp_path_factory.mktemp("stream"), "s.ipynb", CELLS)
    with opened as (server, lab, page):
        harness.run_cell(page, 0)
        harness.wait_kernel_idle(lab)
        for index, text, delay in ((1, HOSTILE, 0.05), (2, CODE, 0.03)):
            server.enqueue(Reply(text=text, chunk_delay=delay))
            cell = harness.cell(page, index)
            cell.evaluate(RECORD)
            harness.run_cell(page, index)
            harness.wait_kernel_idle(lab, timeout=120)
            seen[index] = {
                "states": page.evaluate("window.states"),
                "final": cell.locator(".jp-OutputArea-output").all_inner_texts(),
                "images": cell.locator(".jp-OutputArea-output img").count(),
                "scripts": cell.locator(".jp-OutputArea-output script").count(),
                "blocks": cell.locator(".jp-OutputArea-output pre").count(),
            }
            harness.screenshot(page, ARTIFACTS / f"stream-{index}-final.png")
        seen["pwned"] = page.evaluate("document.body.dataset.pwned || null")
    return seen


def test_html_written_by_the_model_never_runs_while_streaming_or_after(streamed):
    assert streamed["pwned"] is None
    hostile = streamed[1]
    assert hostile["images"] == 0 and hostile["scripts"] == 0
    partial = [s for s in hostile["states"] if s["text"].startswith("Here is a picture")]
    assert len(partial) >= 3  # seen live, several times, before the final output
    assert "<img src=x onerror=" in hostile["final"][0]  # shown as the text it is
    assert "<script>" in hostile["final"][0]


def test_a_code_block_frozen_while_streaming_ends_as_one_block(streamed):
    code = streamed[2]
    live = [s for s in code["states"] if "value_1 =" in s["text"]]
    assert max(s["blocks"] for s in live) >= 2  # frozen above, live below, while it streamed
    assert code["blocks"] == 1 and len(code["final"]) == 1
    final = code["final"][0]
    assert all(line in final for line in CODE_LINES)
    assert "```" not in final and "\n\nDone." in final  # the footer follows
