"""Answers about money read as money: a notebook pairs any two ``$`` into math, so "from $5
to $10" showed as "from" and an italic formula. Dollars that are not inline math (Pandoc's
rule) are written as a dollar no renderer pairs; ``$x^2$``, ``$$…$$`` and code are left as
written. tests/e2e/test_dollars_browser.py checks the result in JupyterLab."""

from __future__ import annotations

import pytest

from gptmagic.render import LITERAL_DOLLAR as D
from gptmagic.render import inert_html
from gptmagic.testing.server import Reply
from tests.conftest import run
from tests.test_inert_html import final, shown_text


@pytest.mark.parametrize(
    ("answer", "markdown"),
    [
        ("Revenue rose from $5 to $10.", f"Revenue rose from {D}5 to {D}10."),
        ("Prices: $5, $10 and $15.", f"Prices: {D}5, {D}10 and {D}15."),
        ("A range of $5-$10.", f"A range of {D}5-{D}10."),
        ("It costs $ 5, or $ 6 with tax.", f"It costs {D} 5, or {D} 6 with tax."),
        ("Only $5 here.", f"Only {D}5 here."),
    ],
)
def test_dollars_that_are_not_math_are_escaped_and_read_as_written(answer, markdown):
    assert inert_html(answer) == markdown
    assert shown_text(markdown) == answer


@pytest.mark.parametrize(
    "answer",
    [
        "The area is $x^2$ here.",
        "Both $a$ and $b$.",
        "$$\\sum_i x_i$$",
        "It is $5$.",
        "In code: `$5 to $10` and\n\n```\ncost = '$5 to $10'\n```\n",
    ],
)
def test_math_code_and_escaped_dollars_are_left_as_written(answer):
    assert inert_html(answer) == answer


def test_a_price_before_math_is_escaped_and_the_math_kept():
    assert inert_html("$5 and $x$") == f"{D}5 and $x$"


def test_math_never_pairs_across_a_paragraph():
    assert inert_html("Costs $5\n\nnow$ more") == f"Costs {D}5\n\nnow{D} more"


def test_a_dollar_the_model_escaped_is_written_the_same_way():
    """JupyterLab turns ``\\$`` into a ``$`` that MathJax then pairs (jupyterlab#8645)."""
    assert inert_html(r"From \$5 to \$10.") == f"From {D}5 to {D}10."


def test_escaping_twice_changes_nothing():
    once = inert_html("from $5 to $10, area $x^2$")
    assert inert_html(once) == once


def test_an_answer_with_prices_is_escaped_live_and_final_and_plain_text_is_untouched(
    shell, server, outputs
):
    answer = "Revenue rose from $5 to $10 per unit. " * 30
    server.enqueue(Reply(text=answer, chunk_delay=0.001))
    run(shell, "%%gpt\nHow did revenue change?")
    assert final(outputs)["data"]["text/plain"] == answer
    assert f"from {D}5 to {D}10 per unit." in final(outputs)["data"]["text/markdown"]
    live = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m][:-1]
    assert len(live) >= 2
    assert all("$" not in text for text in live)


def test_the_history_shown_in_the_notebook_keeps_prices_as_prices(shell, server, outputs):
    server.enqueue(Reply(text="From $5 to $10."))
    run(shell, "%%gpt\nHow did revenue change?")
    run(shell, "%gpt history")
    assert outputs.markdown()[-1].endswith(f"From {D}5 to {D}10.\n")
