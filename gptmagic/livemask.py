"""What is safe to show of an answer while it streams: never a secret, not even its beginning.

An answer that echoes the API key (or another secret gptmagic knows) is masked with
:func:`~gptmagic.errors.redact` before it is kept or shown at the end; but a terminal prints
each piece as it arrives, and a notebook shows the growing text, so masking only at the end
leaks the key live, in stream outputs a notebook saves and in a scrolled-back terminal. A key
also arrives split over several chunks (``sk-te``, ``st-DIST``…), so masking each chunk alone
does not help.

:class:`MaskedView` wraps any answer view: of each answer it shows, masked, the text up to
the point where a secret (in any form :func:`redact` masks, or a long enough beginning of one)
could still be starting, and holds back that suffix until more text shows it is not a
secret, or ends the answer (finish, interrupt, failure: the rest is then shown, masked).
Text that cannot begin a secret is shown at once, so the first text is as quick as before;
the work per piece is bounded by the length of the secrets, not of the answer. The pieces
shown join up to exactly ``redact`` of the whole answer, the text chat.py keeps.
"""

from __future__ import annotations

from typing import Any

from .errors import every_form, masked_beginning, redact, secret_spans
from .streaming import AnswerView


class MaskedText:
    """One answer as it grows: each piece returns what may be shown now, masked."""

    def __init__(self, secrets: list[Any], forms: list[str]):
        self._secrets, self._forms = secrets, forms
        self._firsts = {form[0] for form in forms}
        self._heads = [form[: masked_beginning(form)] for form in forms]
        self._held = ""

    def add(self, text: str) -> str:
        pending = self._held + text
        cut = safe_end(pending, self._forms, self._firsts)
        shown = self._masked(pending[:cut])
        self._held = pending[cut:]
        return shown

    def rest(self) -> str:
        """The text held back, masked: the answer has ended, it cannot grow into a secret."""
        shown = self._masked(self._held)
        self._held = ""
        return shown

    def _masked(self, text: str) -> str:
        if any(head in text for head in self._heads):  # most pieces hold none: skip the work
            return redact(text, self._secrets, urls=False)
        return text


def safe_end(text: str, forms: list[str], firsts: set[str]) -> int:
    """How much of ``text`` masks the same whatever follows it: up to the earliest suffix that
    is the beginning of a form, and never through a run ``redact`` masks (it must see it
    whole)."""
    cut, low = len(text), max(0, len(text) - len(forms[0]) + 1)
    starts = sorted(i for c in firsts for i in _positions(text, c, low))
    for start in starts:
        tail = text[start:]
        if any(len(form) > len(tail) and form.startswith(tail) for form in forms):
            cut = start
            break
    if cut == len(text):
        return cut  # nothing held back: no run can cross the end
    # A masked run across the cut: cut before it. Latest first, so that a run overlapping
    # one already moved before is seen against the new cut (a cut only moves left).
    for start, end in sorted(secret_spans(text, forms), reverse=True):
        if start < cut < end:
            cut = start
    return cut


def _positions(text: str, char: str, start: int) -> list[int]:
    found, at = [], text.find(char, start)
    while at >= 0:
        found.append(at)
        at = text.find(char, at + 1)
    return found


class MaskedView:
    """An :class:`~gptmagic.streaming.AnswerView` that passes on only what is safe to show;
    :meth:`texts` is still the text received (chat.py masks what it keeps itself)."""

    def __init__(self, view: AnswerView, secrets: list[Any]):
        self._view, self._secrets = view, list(secrets)
        self._forms = every_form(self._secrets)
        self._answers: dict[int, MaskedText] = {}
        self._received: dict[int, list[str]] = {}

    def status(self, text: str) -> None:
        self._view.status(text)

    def append(self, index: int, text: str) -> None:
        self._received.setdefault(index, []).append(text)
        if index not in self._answers:
            self._answers[index] = MaskedText(self._secrets, self._forms)
        if shown := self._answers[index].add(text):
            self._view.append(index, shown)

    def flush(self) -> None:
        """What is safe is passed on as it comes; a tail that may begin a secret stays held
        (the text may go on into it), so only the view below is asked to show what it has."""
        self._view.flush()

    def finish(self, bundle: dict[str, str], metadata: dict[str, Any]) -> None:
        self._release()
        self._view.finish(bundle, metadata)

    def discard(self) -> None:
        self._release()
        self._view.discard()

    def texts(self) -> list[str]:
        return ["".join(parts) for _, parts in sorted(self._received.items())]

    def _release(self) -> None:
        """The answers have ended: what each held back is shown, masked."""
        for index, answer in sorted(self._answers.items()):
            if rest := answer.rest():
                self._view.append(index, rest)


def masked(view: AnswerView, secrets: list[Any]) -> AnswerView:
    """``view``, showing no secret while it streams (itself when there is none to hide)."""
    return MaskedView(view, secrets) if every_form(secrets) else view
