"""The in-place display: bounded update rate, linear bytes, one final output."""

from __future__ import annotations

import itertools

from gptmagic.streaming import FREEZE_AT, MarkdownView, paragraph_break
from gptmagic.testing.server import Reply, lorem
from tests.conftest import run


class Clock:
    """Advances a fixed step per reading: a stream at a chosen token rate, no sleeping."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def stream_through_view(shell, tokens: int, seconds_per_token: float) -> tuple[MarkdownView, str]:
    text = lorem(tokens)
    view = MarkdownView(clock=Clock(seconds_per_token))
    for word in text.split(" "):
        view.append(0, word + " ")
    return view, "".join(view.texts())


def test_updates_stay_under_twenty_a_second_at_any_token_rate(shell):
    view, _ = stream_through_view(shell, 2000, seconds_per_token=0.001)  # 1000 tokens/s
    seconds = 2000 * 0.001
    assert view.updates <= seconds * 20 + view._displays + 2


def test_bytes_sent_grow_linearly_with_a_slow_long_stream(shell, outputs):
    ratios = []
    for tokens in (2_000, 20_000):
        outputs.messages.clear()
        _view, text = stream_through_view(shell, tokens, seconds_per_token=0.03)  # 33 tokens/s
        ratios.append(outputs.bytes_sent() / len(text))
    assert ratios[1] < ratios[0] * 1.5, ratios
    assert ratios[1] < 10, ratios


def test_long_answers_continue_in_new_displays_below_frozen_paragraphs(shell, outputs):
    _view, text = stream_through_view(shell, 3000, seconds_per_token=0.03)
    assert len(outputs.outputs) > 3
    assert "".join(outputs.markdown()) == text[: len("".join(outputs.markdown()))]


def test_paragraph_breaks_inside_code_fences_are_not_used():
    text = "intro\n\n```python\nx = 1\n\ny = 2\n```\nafter"
    assert paragraph_break(text) == len("intro\n\n")


def test_a_paced_stream_ends_as_one_output_with_the_whole_answer(shell, outputs, server):
    server.enqueue(Reply(tokens=400, chunk_delay=0.002))
    run(shell, "%%gpt\nwrite a lot")
    updates = [m for m in outputs.messages if m.get("update")]
    assert updates, "the answer should have been updated in place while streaming"
    assert len(outputs.outputs) == 1
    assert outputs.outputs[0]["data"]["text/plain"] == lorem(400)


def test_freezing_happens_only_after_the_threshold(shell):
    view = MarkdownView(clock=itertools.count().__next__)
    view.append(0, "para one\n\n" * 10)
    assert view._displays <= 1 and FREEZE_AT > 100
