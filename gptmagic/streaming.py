"""Showing an answer while it streams: in place in a notebook, as plain text in a terminal.

In a notebook the answer is a Markdown display updated in place, throttled so the bytes sent
to the frontend grow linearly with the answer, whatever its length or the token rate:

* an update is sent at most every ``MIN_INTERVAL`` seconds (about 20 a second), and only once
  the visible tail has grown by ``GROWTH`` of its size since the last update, so the updates
  of one display add up to a geometric series (about ``1 / GROWTH`` times its text);
* once the tail passes ``FREEZE_AT`` characters it is closed at a paragraph break outside a
  code fence and a new display continues below, so updates never resend old paragraphs.

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
from typing import Any, Protocol

MIN_INTERVAL = 0.05
GROWTH = 0.15
FREEZE_AT = 1500


class AnswerView(Protocol):
    def status(self, text: str) -> None: ...
    def append(self, index: int, text: str) -> None: ...
    def finish(self, bundle: dict[str, str], metadata: dict[str, Any]) -> None: ...
    def discard(self) -> None: ...


def paragraph_break(text: str) -> int:
    """Index just after the last blank line of ``text`` outside a fenced code block, or -1."""
    inside, cut, pos = False, -1, 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        stripped = line.lstrip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            inside = not inside
        elif not inside and not stripped.strip() and pos < len(text):
            cut = pos
    return cut


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
        if size - self._shown_len < max(1, GROWTH * self._shown_len):
            return
        self._last = now
        self._refresh()

    def _refresh(self) -> None:
        if len(self._answers) > 1:
            from .render import join_answers

            text = join_answers(["".join(p) for _, p in sorted(self._answers.items())])
            self._show(text)
            self._shown_len = self._total_len  # the same measure as `size` in append()
            return
        tail = "".join(self._tail)
        self._tail = [tail]
        cut = paragraph_break(tail) if len(tail) >= FREEZE_AT else -1
        if cut > 0:
            self._show(tail[:cut])  # the frozen part's last state
            self._display_id = None
            tail = tail[cut:]
            self._tail, self._tail_len = [tail], len(tail)
        self._show(tail)
        self._shown_len = len(tail)

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
