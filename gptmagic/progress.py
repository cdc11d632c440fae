"""A waiting indicator with the elapsed time, for requests that answer all at once.

Image generation takes seconds to a minute with nothing to stream, so the user needs to see
that the kernel is waiting and for how long. In a notebook the indicator is a display updated
in place about once a second (from a small thread: the request itself blocks the kernel's
main thread, where Ctrl-C must still land), and partial images go to a second display below
it. When the result arrives, :meth:`Progress.finish` turns those displays, in place, into the
first outputs of the result, so the saved notebook holds only the result and nothing is
cleared that the cell printed before. In a terminal the indicator is one line on stderr,
rewritten with ``\\r``.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

INTERVAL = 1.0

Output = tuple[dict[str, Any], dict[str, Any]]  # (mime bundle, metadata)


def in_notebook(ctx: Any) -> bool:
    """``GPTMagic.display`` resolved: rich displays for notebooks, plain text elsewhere."""
    if ctx.settings.display == "auto":
        return frontend_shows_markdown(getattr(ctx.shell, "kernel", None))
    return ctx.settings.display == "markdown"


def frontend_shows_markdown(kernel: Any) -> bool:
    """Whether the cell being run came from a frontend that renders Markdown displays.

    The execute request tells: notebook frontends (JupyterLab, Notebook 7, VS Code) send the
    cell's id (``metadata.cellId``), and headless runners (nbclient, papermill, nbconvert)
    allow no input. A request that allows input but names no cell comes from a console
    (``jupyter console``, qtconsole), which prints only ``text/plain`` and ignores display
    updates, so it gets text streamed as it comes. A terminal IPython has no kernel.
    """
    if kernel is None:
        return False
    get_parent = getattr(kernel, "get_parent", None)  # ipykernel >= 6
    parent = get_parent("shell") if callable(get_parent) else None
    if not isinstance(parent, dict) or parent.get("header", {}).get("msg_type") != (
        "execute_request"
    ):
        return True  # unknown: keep the notebook behaviour
    metadata, content = parent.get("metadata") or {}, parent.get("content") or {}
    return bool(metadata.get("cellId")) or not content.get("allow_stdin", True)


class Progress:
    """``text · 12 s`` until :meth:`finish` or :meth:`fail`; thread-safe."""

    def __init__(self, text: str, *, notebook: bool, clock: Callable[[], float] = time.monotonic):
        from IPython.display import display, update_display

        self._display, self._update = display, update_display
        self._text, self._notebook, self._clock = text, notebook, clock
        self._started = clock()
        self._width = 0  # of the terminal line to overwrite
        self._slots: list[str] = []  # display ids in output order: status, then preview
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="gptmagic-progress", daemon=True)

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def start(self) -> Progress:
        with self._lock:
            self._show_status()
        self._ticker.start()
        return self

    def say(self, text: str) -> None:
        """Change the message (retrying, downloading…); the clock keeps running."""
        with self._lock:
            self._text = text
            self._show_status()

    def preview(self, bundle: dict[str, Any], label: str) -> None:
        """Show a partial result below the status line, replacing the previous one."""
        with self._lock:
            if not self._notebook:
                self._terminal(label, end="\n")
            elif len(self._slots) < 2:
                self._slots.append(self._new_display(bundle))
            else:
                self._update(bundle, raw=True, display_id=self._slots[1])

    def finish(self, outputs: list[Output], summary: str) -> None:
        """Show ``outputs``: the first ones replace the indicator's displays, in place."""
        self._halt()
        if not self._notebook:
            self._terminal(summary, end="\n")
        slots = self._slots if self._notebook else []
        for i, (bundle, metadata) in enumerate(outputs):
            if i < len(slots):
                self._update(bundle, raw=True, metadata=metadata, display_id=slots[i])
            else:
                self._display(bundle, raw=True, metadata=metadata)

    def fail(self, text: str) -> None:
        """Leave ``text`` where the indicator was (a partial image stays, as it was)."""
        self._halt()
        with self._lock:
            self._text = text
            self._show_status(final=True)

    # -- internals -------------------------------------------------------------------------
    def _halt(self) -> None:
        self._stopped.set()
        if self._ticker.is_alive():
            self._ticker.join()

    def _tick(self) -> None:
        while not self._stopped.wait(INTERVAL):
            with self._lock:
                if not self._stopped.is_set():
                    self._show_status()

    def _show_status(self, final: bool = False) -> None:
        line = self._text if final else f"{self._text} · {self.elapsed:.0f} s"
        if not self._notebook:
            self._terminal(line, end="\n" if final else "")
            return
        bundle = {"text/markdown": f"*{line}*", "text/plain": line}
        if self._slots:
            self._update(bundle, raw=True, display_id=self._slots[0])
        else:
            self._slots.append(self._new_display(bundle))

    def _terminal(self, line: str, end: str) -> None:
        """Rewrite the stderr line (padded over a longer previous one)."""
        sys.stderr.write(f"\r{line.ljust(self._width)}{end}")
        sys.stderr.flush()
        self._width = 0 if end else len(line)

    def _new_display(self, bundle: dict[str, Any]) -> str:
        display_id = uuid.uuid4().hex
        self._display(bundle, raw=True, display_id=display_id)
        return display_id
