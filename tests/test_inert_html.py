"""Answers are shown as Markdown whose raw HTML is text: a notebook renders live outputs as
trusted HTML, so an answer holding an event handler must never reach it as a tag."""

from __future__ import annotations

import pytest

from gptmagic.render import call_line, inert_html, literal_markdown
from gptmagic.testing.server import Reply
from tests.conftest import run

HOSTILE = 'Look: <img src=x onerror="alert(1)"> and <script>steal()</script> done.'


def final(outputs) -> dict:
    finals = [o for o in outputs.outputs if "gptmagic" in o["metadata"]]
    assert len(finals) == 1
    return finals[0]


def test_raw_html_in_an_answer_is_shown_as_text(shell, server, outputs):
    server.enqueue(Reply(text=HOSTILE))
    run(shell, "%%gpt\nDescribe the page.")
    markdown = final(outputs)["data"]["text/markdown"]
    assert '&lt;img src=x onerror="alert(1)">' in markdown
    assert "<img" not in markdown and "<script" not in markdown
    assert final(outputs)["data"]["text/plain"] == HOSTILE  # the answer itself, unchanged


def test_no_live_update_carries_a_tag_from_the_answer(shell, server, outputs):
    server.enqueue(Reply(text=HOSTILE * 20, chunk_delay=0.001))
    run(shell, "%%gpt\nDescribe the page.")
    shown = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m]
    assert len(shown) >= 2
    assert not any("<img" in text or "<script" in text for text in shown)


def test_the_history_shows_raw_html_as_text(shell, server, outputs):
    server.enqueue(Reply(text=HOSTILE))
    run(shell, "%%gpt\nDescribe <b>this</b> page.")
    run(shell, "%gpt history")
    markdown = "".join(outputs.markdown())
    assert "&lt;img src=x" in markdown and "&lt;b>this&lt;/b>" in markdown
    assert "<img" not in markdown and "<b>" not in markdown


@pytest.mark.parametrize(
    "markdown",
    [
        "```html\n<div onclick=x>hi</div>\n```\n",
        "Use `<br>` for a line break.",
        "Use ``a `<br>` b`` here.",
        "~~~\n<img src=x>\n~~~",
    ],
)
def test_code_blocks_and_code_spans_are_left_as_written(markdown):
    assert inert_html(markdown) == markdown


def test_a_tag_after_an_unclosed_backtick_is_made_text():
    assert inert_html("a ` b <img src=x>") == "a ` b &lt;img src=x>"


def test_an_autolink_stays_a_link_and_loses_its_brackets():
    assert inert_html("See <https://example.com/a?b=1>.") == "See https://example.com/a?b=1."


def shown_text(markdown: str) -> str:
    """The text a reader sees of ``markdown`` (rendered by mistune, as nbconvert does)."""
    import html
    import re

    import mistune

    return html.unescape(re.sub(r"<[^>]+>", "", mistune.html(markdown))).strip()


# What a --tools line can hold: the model's arguments, a masked key, a tool's error message.
LITERALS = [
    "🔧 describe_variable(_raw_) → error: private name",
    "🔧 show_rows(odd, columns=[a*b*, __x__]) → rows 0–1 of 2",
    "🔧 describe_variable(***) → error: no variable '***'",
    "🔧 describe_variable([here](https://example.com)) → error",
    "🔧 describe_variable(`a` and `b`) → error",
    "🔧 describe_variable(<img src=x onerror=alert(1)>) → error",
    "🔧 value_counts(t, column=~~old~~ | new) → error",
    r"🔧 describe_variable(C:\temp\x, &lt;) → error",
]


@pytest.mark.parametrize("summary", LITERALS)
def test_a_tool_line_shows_exactly_its_characters(summary):
    line = call_line(summary)
    assert line.startswith("> ") and shown_text(line) == summary
    assert shown_text(inert_html(line)) == summary  # the final output makes HTML inert too
    assert "<" not in inert_html(line)


def test_an_underscore_inside_a_word_is_left_as_written():
    summary = "🔧 describe_variable(sales) → 96 rows × 5 columns"
    assert call_line(summary) == f"> {summary}"  # exports and saved notebooks read the same
    assert literal_markdown("_raw_ a_b __x__") == r"\_raw\_ a_b \_\_x\_\_"
