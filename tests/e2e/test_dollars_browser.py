"""An answer about money as JupyterLab shows it: prices read as prices, math stays math.

Lab pairs any two ``$`` of a Markdown output into MathJax, so "from $5 to $10" showed as
"from" and a formula; gptmagic escapes the dollars that are not inline math.
"""

from __future__ import annotations

from pathlib import Path

import labharness as harness
import pytest

from gptmagic.testing.server import Reply

ARTIFACTS = Path(__file__).parent / "artifacts"
ANSWER = "Revenue rose from $5 to $10 per unit, and the area is $x^2$."
CELLS = ["%load_ext gptmagic", "%%gpt\nHow did revenue change?"]

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    """Run the cell in Lab; return the final output's text and its number of formulas."""
    opened = harness.notebook_in_lab(tmp_path_factory.mktemp("dollars"), "d.ipynb", CELLS)
    with opened as (server, lab, page):
        server.enqueue(Reply(text=ANSWER))
        harness.run_all(page)
        output = harness.cell(page, 1).locator(".jp-RenderedMarkdown").first
        output.locator("mjx-container").first.wait_for(timeout=60000)
        harness.wait_kernel_idle(lab, timeout=60)
        seen = {
            "text": " ".join(output.inner_text().split()),
            "formulas": output.locator("mjx-container").count(),
        }
        harness.screenshot(page, ARTIFACTS / "dollars-final.png")
    return seen


def test_prices_read_as_written(shown):
    assert shown["text"].startswith("Revenue rose from $5 to $10 per unit, and the area is")


def test_inline_math_is_still_typeset_and_only_it(shown):
    assert shown["formulas"] == 1
