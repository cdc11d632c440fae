"""Showing an answer while it streams: in place in a notebook, as plain text in a terminal.

In a notebook the answer is a Markdown display updated in place. In JupyterLab every in-place
update costs the page a few milliseconds of main-thread time whatever its size (measured in
bench/browser.py: a six-character update costs nearly as much as a 1,500-character one), so
what the browser pays is the number of updates; the bytes sent must also grow linearly with
the answer, whatever its length or the token rate:

* the first text is shown as soon as it arrives; after that an update is sent at most every
  ``MIN_INTERVAL`` seconds (8 a second: reads as continuous, and bounds the page's cost per
  second), and only once the visible tail has grown by ``MIN_STEP`` characters and by
  ``GROWTH`` of its size, so the updates of one display add up to a geometric series (about
  ``1 / GROWTH`` times its text);
* the tail is frozen (closed, and a new display continues below it, so updates never resend
  old paragraphs) at a paragraph break once it passes ``FREEZE_AT`` characters, or sooner
  (from ``MIN_FREEZE``) when waiting for it to grow by ``GROWTH`` would hold the next update
  longer than ``MAX_WAIT`` at the rate text is arriving: a slow local model still shows new
  text several times a second, while a fast answer keeps few, long displays to lay out. An
  open code block is frozen at a line: closed above, reopened below.

When the answer is done, :meth:`MarkdownView.finish` replaces every streaming display with
one final output holding the whole answer (``clear_output(wait=True)`` then ``display``), so
a saved notebook holds exactly the final text; when the request fails before any text,
:meth:`MarkdownView.discard` removes the waiting line.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

MIN_INTERVAL = 0.125
GROWTH = 0.15
FREEZE_AT = 1500
MIN_STEP = 24
MIN_FREEZE = 200
MAX_WAIT = 0.3
MAX_DISPLAYS = 40  # JupyterLab and Notebook 7 show 50 outputs, then "Show more outputs"


class AnswerView(Protocol):
    def status(self, text: str) -> None: ...
    def append(self, index: int, text: str) -> None: ...
    def flush(self) -> None: ...
    def finish(self, bundle: dict[str, str], metadata: dict[str, Any]) -> None: ...
    def discard(self) -> None: ...


class Split(NamedTuple):
    """Where streamed Markdown is cut: ``frozen`` is shown as it stands, ``live`` goes on
    growing, and ``cut`` is the index in the text where ``live``'s own text starts (``live``
    may begin with a code fence's opening line again)."""

    frozen: str
    live: str
    cut: int


def freeze_split(text: str) -> Split | None:
    """Split streamed Markdown into a part that can be frozen and a tail that stays live.

    The cut is the last blank line outside a code fence; when the text ends inside an open
    fence whose lines come after that, the cut is its last complete line instead, and the
    fence is closed in the frozen part and reopened (same opening line) in the tail, so a
    long code block streams as smoothly as prose. None when there is no cut (one growing
    paragraph, or nothing complete yet).
    """
    fence: tuple[str, str] | None = None  # (opening line, closing marker) while inside
    cut, fence_cut, pos = -1, -1, 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            marker = stripped[: len(stripped) - len(stripped.lstrip(stripped[0]))]
            fence, fence_cut = (line if line.endswith("\n") else line + "\n", marker), -1
        elif (
            fence is not None and stripped.startswith(fence[1]) and not stripped.strip(fence[1][0])
        ):
            fence = None
        elif fence is None and not stripped and pos < len(text):
            cut = pos
        elif fence is not None and pos < len(text):
            fence_cut = pos  # after a complete line inside the fence, with more after it
    if fence is not None and fence_cut > cut:
        opening, marker = fence
        return Split(text[:fence_cut] + marker + "\n", opening + text[fence_cut:], fence_cut)
    return Split(text[:cut], text[cut:], cut) if cut > 0 else None


class MarkdownView:
    """In-place Markdown updates through IPython's display machinery."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        from IPython.display import clear_output, display, update_display

        self._display, self._update, self._clear = display, update_display, clear_output
        self._clock = clock
        self._answers: dict[int, list[str]] = {}
        self._tail: list[str] = []  # answer 0 since the last frozen display
        self._tail_len = 0
        self._total_len = 0  # all answers (-n), to pace the combined display
        self._display_id: str | None = None
        self._displays = 0
        self._tail_start = 0  # where the tail's own text starts in answer 0
        self._reopened = ""  # a code fence's opening line the tail begins with, if any
        self._merged = 0  # characters of answer 0 in the first display since the last merge
        self._shown_len = 0
        self._last = float("-inf")
        self.updates = 0
        self.bytes_sent = 0

    # -- feeding -------------------------------------------------------------------------
    def status(self, text: str) -> None:
        """A transient line (waiting, retrying) shown until the first text arrives."""
        if not self._tail_len and len(self._answers) <= 1:
            self._show(f"*{text}*")

    def append(self, index: int, text: str) -> None:
        self._answers.setdefault(index, []).append(text)
        self._total_len += len(text)
        if index == 0:
            self._tail.append(text)
            self._tail_len += len(text)
        now = self._clock()
        if now - self._last < MIN_INTERVAL:
            return
        size = self._tail_len if len(self._answers) == 1 else self._total_len
        step = max(MIN_STEP, GROWTH * self._shown_len) if self._shown_len else 1  # first: now
        if size - self._shown_len < step:
            return
        rate = (size - self._shown_len) / (now - self._last)
        self._last = now
        self._refresh(rate)

    def flush(self) -> None:
        """Show now what the pacing holds back: a tool round's words and call lines would
        otherwise wait for the next answer's first text, however long the tools and the
        next request take."""
        size = self._tail_len if len(self._answers) == 1 else self._total_len
        if size != self._shown_len:
            self._last = self._clock()
            self._refresh()

    def _refresh(self, rate: float = float("inf")) -> None:
        if len(self._answers) > 1:
            from .render import join_answers

            text = join_answers(["".join(p) for _, p in sorted(self._answers.items())])
            self._show(text)
            self._shown_len = self._total_len  # the same measure as `size` in append()
            return
        text = "".join(self._tail)
        self._tail, tail = [text], text
        split = freeze_split(text) if self._should_freeze(len(text), rate) else None
        if split is not None:
            start = self._tail_start + split.cut - len(self._reopened)
            if self._displays >= MAX_DISPLAYS:
                self._merge(start, closing=split.frozen[split.cut :])
            else:
                self._show(split.frozen)  # the frozen part's last state
            self._display_id = None
            tail, self._tail_start = split.live, start
            self._reopened = tail[: len(tail) - (len(text) - split.cut)]
            self._tail, self._tail_len = [tail], len(tail)
        self._show(tail)
        self._shown_len = len(tail)

    def _merge(self, upto: int, closing: str) -> None:
        """Replace every display so far by one holding answer 0 up to ``upto`` (``closing``
        ends a code fence left open there), before a frontend's cap on outputs hides the
        rest. Frozen displays hold at least ``1 / (MAX_DISPLAYS - 1)`` of the merged text,
        so each merge at least doubles it: all merges together resend under twice the answer.
        """
        self._clear(wait=True)
        self._displays, self._display_id = 0, None
        self._show("".join(self._answers[0])[:upto] + closing)
        self._merged = upto

    def _should_freeze(self, size: int, rate: float) -> bool:
        """Close the tail once it is long, or once waiting for it to grow by ``GROWTH`` would
        hold the next update longer than ``MAX_WAIT`` at the rate text is arriving; after a
        merge, only at sizes that keep merges geometric (see :meth:`_merge`)."""
        least = self._merged // (MAX_DISPLAYS - 1)
        if size < max(MIN_FREEZE, least):
            return False
        return size >= FREEZE_AT or GROWTH * size > rate * MAX_WAIT

    def _show(self, markdown: str) -> None:
        # Intermediate states carry Markdown only: half the bytes; the final output has both.
        from .render import inert_html

        bundle = {"text/markdown": inert_html(markdown)}
        self.updates += 1
        self.bytes_sent += len(markdown.encode())
        if self._display_id is None:
            self._displays += 1
            self._display_id = uuid.uuid4().hex
            self._display(bundle, raw=True, display_id=self._display_id)
        else:
            self._update(bundle, raw=True, display_id=self._display_id)

    # -- ending --------------------------------------------------------------------------
    def finish(self, bundle: dict[str, str], metadata: dict[str, Any]) -> None:
        """Replace the streaming displays with one final output."""
        if self._displays:
            self._clear(wait=True)
        self._display(bundle, raw=True, metadata=metadata)
        self.updates += 1
        self.bytes_sent += sum(len(v.encode()) for v in bundle.values())

    def discard(self) -> None:
        """Remove what was shown while waiting (the request failed before any text): the
        cell's outcome is the one-line error raised next, and a saved notebook must not hold
        an "Asking…" or "retrying in 4 s…" line."""
        if self._displays:
            self._clear()
            self._displays, self._display_id = 0, None

    def texts(self) -> list[str]:
        """The text received so far, one string per answer index."""
        return ["".join(parts) for _, parts in sorted(self._answers.items())]


class TextView:
    """A terminal: print text as it comes; no rich display to replace at the end."""

    def __init__(self, stream: Any = None):
        self._out = stream or sys.stdout
        self._answers: dict[int, list[str]] = {}

    def status(self, text: str) -> None:
        print(f"[{text}]", file=sys.stderr, flush=True)

    def append(self, index: int, text: str) -> None:
        self._answers.setdefault(index, []).append(text)
        if index == 0:
            self._out.write(text)
            self._out.flush()

    def flush(self) -> None:
        """Text is printed as it comes: nothing is held back."""

    def finish(self, bundle: dict[str, str], metadata: dict[str, Any]) -> None:
        from .render import join_answers

        rest = [("".join(p)) for i, p in sorted(self._answers.items()) if i]
        if rest:
            self._out.write("\n\n" + join_answers(rest, start=2, plain=True))
        notes = metadata.get("gptmagic", {}).get("notes", [])
        footer = metadata.get("gptmagic", {}).get("footer")
        for line in [*notes, footer]:
            if line:
                self._out.write(f"\n[{line}]")
        self._out.write("\n")
        self._out.flush()

    def discard(self) -> None:
        """Status lines went to stderr as they came; nothing to take back."""

    def texts(self) -> list[str]:
        return ["".join(parts) for _, parts in sorted(self._answers.items())]
