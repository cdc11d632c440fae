"""A --tools answer from a reasoning model as JupyterLab shows it: each call line reads as the
model wrote its arguments, and the 💭 summaries of two rounds do not run together.

Both are about how Lab's Markdown renderer (marked, not the mistune the unit tests use) reads
the final output: ``_raw_`` or ``a*b*`` turned into emphasis there, and two summaries joined
as they came read "be brief.Reading the question".
"""

from __future__ import annotations

import json
from pathlib import Path

import labharness as harness
import pytest

from gptmagic.testing.server import Reply

ARTIFACTS = Path(__file__).parent / "artifacts"
CELLS = [
    "%load_ext gptmagic\n%config GPTMagic.api = 'responses'",
    "%%gpt --tools -m o-reason --reasoning low\nWhat is here?",
]
CALLS = [
    {"name": "describe_variable", "arguments": json.dumps({"name": "_raw_"})},
    {"name": "describe_variable", "arguments": json.dumps({"name": "a*b*"})},
    {"name": "describe_variable", "arguments": json.dumps({"name": "[x](y) ***"})},
]
LINES = [
    "🔧 describe_variable(_raw_) → error: private name",
    "🔧 describe_variable(a*b*) → error: not a variable name",
    "🔧 describe_variable([x](y) ***) → error: not a variable name",
]
SAID = "Reading the question The user said What is here?; be brief."

_SKIP_REASON = harness.skip_unless_browser()
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    """Run the cell in Lab; return the texts of its final output's quoted lines."""
    opened = harness.notebook_in_lab(tmp_path_factory.mktemp("tools"), "t.ipynb", CELLS)
    with opened as (server, lab, page):
        server.enqueue(Reply(text="Looking.", tool_calls=CALLS), Reply(text="Nothing here."))
        harness.run_all(page)
        cell = harness.cell(page, 1)
        cell.locator(".jp-OutputArea-output", has_text="Nothing here.").wait_for(timeout=60000)
        harness.wait_kernel_idle(lab, timeout=60)
        quotes = cell.locator(".jp-OutputArea-output blockquote")
        seen = {
            "quotes": [" ".join(text.split()) for text in quotes.all_inner_texts()],
            "emphasis": cell.locator("blockquote:has-text('🔧') :is(em, strong, a)").count(),
        }
        harness.screenshot(page, ARTIFACTS / "tools-final.png")
    return seen


def test_each_call_line_shows_the_arguments_as_written(shown):
    assert shown["quotes"][1:] == LINES
    assert shown["emphasis"] == 0  # no italics, bold or link made of the model's arguments


def test_the_summaries_of_two_rounds_read_as_two_sentences(shown):
    assert shown["quotes"][0] == f"💭 Reasoning summary: {SAID} {SAID}"
