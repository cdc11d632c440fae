"""The in-place display: bounded update rate, linear bytes, one final output."""

from __future__ import annotations

import itertools

from gptmagic.streaming import FREEZE_AT, MAX_DISPLAYS, MarkdownView, freeze_split
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


def update_times(text: str, pieces: int, seconds_per_piece: float) -> tuple[MarkdownView, list]:
    """Feed ``text`` in ``pieces`` equal slices at a steady pace; the clock time of each
    visible change (an update or a new display)."""
    clock = Clock(seconds_per_piece)
    view, times, size = MarkdownView(clock=clock), [], -(-len(text) // pieces)
    for start in range(0, len(text), size):
        before = view.updates
        view.append(0, text[start : start + size])
        if view.updates != before:
            times.append(clock.now)
    return view, times


def test_updates_come_at_most_eight_a_second_at_any_token_rate(shell):
    view, times = update_times(lorem(2000), 2000, seconds_per_piece=0.001)  # 1000 tokens/s
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # a frozen display's last state and the next display go out together: one visible step
    assert min(gap for gap in gaps if gap > 0) >= 0.125
    assert view.updates <= 2.0 * 8 + 2 * view._displays + 1


def test_a_slow_stream_shows_new_text_at_least_every_second(shell):
    # 10 tokens a second, a local model on a CPU: the tail is frozen at paragraph breaks
    # early enough that waiting for it to grow never stalls the display for seconds
    _view, times = update_times(lorem(600), 600, seconds_per_piece=0.1)
    assert max(b - a for a, b in itertools.pairwise(times)) <= 1.0


def test_a_long_code_block_streams_smoothly_at_a_slow_rate(shell):
    code = "```python\n" + "".join(f"value_{i} = compute({i}, scale=2.5)\n" for i in range(120))
    _view, times = update_times(code + "```\n", 1000, seconds_per_piece=0.1)
    assert max(b - a for a, b in itertools.pairwise(times)) <= 1.0


def test_a_fast_stream_keeps_long_live_tails(shell, outputs):
    # at 96 tokens a second the tail is frozen only once it is long: few outputs to lay out
    text = lorem(4000)
    update_times(text, 4000, seconds_per_piece=1 / 96)
    displays = [m for m in outputs.messages if "data" in m and not m["update"]]
    assert len(text) / len(displays) >= 900, len(displays)


def test_bytes_sent_grow_linearly_with_a_slow_long_stream(shell, outputs):
    ratios = []
    for tokens in (2_000, 20_000):
        outputs.messages.clear()
        _view, text = stream_through_view(shell, tokens, seconds_per_token=0.03)  # 33 tokens/s
        ratios.append(outputs.bytes_sent() / len(text))
    assert ratios[1] < ratios[0] * 1.5, ratios
    # the tail's geometric updates (1 + 1 / GROWTH), message overhead, merges (under 2x)
    assert ratios[1] < 12, ratios


def test_a_long_slow_answer_never_holds_more_outputs_than_a_notebook_shows(shell, outputs):
    # JupyterLab and Notebook 7 render 50 outputs, then "Show more outputs": past that a
    # live answer would seem to stop. Frozen displays are merged into one before that.
    text, most, clock = lorem(6000), 0, Clock(0.1)  # 10 tokens a second
    view = MarkdownView(clock=clock)
    for word in text.split(" "):
        view.append(0, word + " ")
        most = max(most, len(outputs.outputs))
        shown = "".join(outputs.markdown())
        assert text.startswith(shown) or shown.startswith("*"), shown[-80:]
    assert MAX_DISPLAYS <= 40 and most <= MAX_DISPLAYS
    assert any(m.get("clear_output") for m in outputs.messages)  # merged at least once
    assert len("".join(outputs.markdown())) > len(text) - FREEZE_AT  # all but the live tail


def test_a_merge_closes_a_code_block_left_open(shell, outputs):
    code = "```python\n" + "".join(f"value_{i} = compute({i}, scale=2.5)\n" for i in range(2000))
    view = MarkdownView(clock=Clock(0.1))
    for start in range(0, len(code), 6):
        view.append(0, code[start : start + 6])
    merged = next(i for i, m in enumerate(outputs.messages) if m.get("clear_output"))
    first = outputs.messages[merged + 1]["data"]["text/markdown"]
    assert first.startswith("```python\n") and first.endswith("\n```\n")
    assert first.count("```") == 2


def test_long_answers_continue_in_new_displays_below_frozen_paragraphs(shell, outputs):
    _view, text = stream_through_view(shell, 3000, seconds_per_token=0.03)
    assert len(outputs.outputs) > 3
    assert "".join(outputs.markdown()) == text[: len("".join(outputs.markdown()))]


def test_paragraph_breaks_inside_code_fences_are_not_used():
    text = "intro\n\n```python\nx = 1\n\ny = 2\n```\nafter"
    assert freeze_split(text)[:2] == ("intro\n\n", text[len("intro\n\n") :])


def test_an_open_code_block_is_closed_when_frozen_and_reopened_below():
    text = "intro\n\n~~~~ sql\nselect 1\n~~~\nfrom t\nwhere"
    assert freeze_split(text)[:2] == (
        "intro\n\n~~~~ sql\nselect 1\n~~~\nfrom t\n~~~~\n",
        "~~~~ sql\nwhere",
    )


def test_one_growing_paragraph_is_not_split():
    assert freeze_split("one paragraph, still growing\nover two lines") is None


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


def test_a_flush_shows_what_the_pacing_held_back_and_only_then(shell, outputs):
    times = iter([0.0, 0.01, 0.02, 0.03, 0.2, 0.3, 0.4])  # each reading of the clock
    view = MarkdownView(clock=lambda: next(times))
    for word in ("Let ", "me ", "look ", "first."):  # within 1/8 s: all but the first paced
        view.append(0, word)
    assert outputs.markdown() == ["Let "] and view.updates == 1
    view.flush()  # at 0.2
    assert outputs.markdown() == ["Let me look first."] and view.updates == 2
    view.flush()  # nothing new: no update, no reading of the clock
    assert view.updates == 2
    view.append(0, " And now a longer sentence.")  # at 0.3: paced from the flush
    assert outputs.markdown() == ["Let me look first."]
    view.append(0, " More.")  # at 0.4
    assert outputs.markdown() == ["Let me look first. And now a longer sentence. More."]
