"""What one cell's answer amounts to, as a plain value, and what that value says.

An :class:`Outcome` is decided once, from what the stream delivered; the final output's notes
(:func:`notes`) and the one line the cell fails with (:func:`failure`) are read from it, so
the output and the error always tell the same story: complete, interrupted (kept, marked),
incomplete (shown, not stored) or empty (finished with no text; why, from finish_reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import GPTMagicError, InterruptedAnswer

if TYPE_CHECKING:
    from .chat import CellRequest

#: the finish of a Responses API answer that ended ``incomplete`` giving no reason
UNEXPLAINED = "incomplete"
#: finish reasons that need no note of their own: the answer ended as asked, or a note says
KNOWN = {"stop", "length", "content_filter", "tool_calls", "function_call", UNEXPLAINED}
#: finish reasons of an answer the server gave up on (vLLM: abort; Mistral: error; DeepSeek:
#: insufficient_system_resource): incomplete, like a dropped stream
ABANDONED = ("abort", "error", "insufficient_system_resource")


def abandoned(reasons: list[str]) -> str:
    """Why the server gave up on an answer, as the cause of an incomplete one ("" if not)."""
    gave_up = next((r for r in reasons if r in ABANDONED), None)
    if gave_up is None:
        return ""
    return f"the server gave up on the answer (finish_reason: {gave_up})"


@dataclass
class Outcome:
    """What one cell's answer amounts to, as a plain value: shown, then recorded."""

    answers: list[str]
    reasons: list[str | None]
    status: str  # complete, interrupted, incomplete or empty
    cause: str  # why it is incomplete ("" otherwise)
    kept: int | None  # the answer the history keeps (the first with text), if any

    @classmethod
    def of(cls, answers: list[str], reasons: list[str | None], status: str, cause: str) -> Outcome:
        """The stream's ``status`` made exact: an answer that finished with no text is
        ``empty``; the history keeps the first answer with text."""
        if status == "complete" and not any(a.strip() for a in answers):
            status = "empty"  # finished, but nothing to show, keep or replay
        kept = next((i for i, a in enumerate(answers) if a.strip()), None)
        return cls(answers, reasons, status, cause, kept)


def notes(result: Outcome, r: CellRequest) -> list[str]:
    """The notes the final output shows for this outcome (interrupted, cut, empty answers)."""
    outcome, answers, reasons, kept = result.status, result.answers, result.reasons, result.kept
    lines = []
    if outcome == "interrupted":
        if kept is None:
            lines.append("⏹ Interrupted before any text arrived (nothing stored).")
        elif r.use_history:
            lines.append("⏹ Interrupted: partial answer (kept in the history, marked).")
        else:
            lines.append("⏹ Interrupted: partial answer.")
    elif outcome == "incomplete":
        stored = "Not stored in the history" if kept is not None else "No answer text arrived"
        lines.append(f"⚠ Incomplete: {result.cause}. {stored}.")
    elif outcome == "empty":
        lines.append("⚠ Empty answer: the server finished without any text. Not stored.")
    if "length" in reasons and outcome != "empty":
        lines.append(cut_note(r.max_tokens))
    if "content_filter" in reasons and outcome != "empty":
        lines.append(
            "⚠ The server's content filter stopped the answer (finish_reason: "
            "content_filter): the text above ends where it was cut."
        )
    if UNEXPLAINED in reasons and outcome != "empty":
        lines.append(
            "⚠ The server ended the response incomplete without saying why (status: "
            "incomplete, no incomplete_details.reason): the text above may be cut short."
        )
    if outcome == "complete" and kept is not None and r.n > 1:
        empty = [str(i) for i, a in enumerate(answers, 1) if not a.strip()]
        if empty:
            keeps = f"; answer {kept + 1} is kept in the history" if kept else ""
            label = "Answer" if len(empty) == 1 else "Answers"
            lines.append(f"{label} {', '.join(empty)} came back empty{keeps}.")
    unknown = sorted({x for x in reasons if x and x not in KNOWN and x not in ABANDONED})
    if unknown and outcome != "empty":
        said = ", ".join(repr(x) for x in unknown)
        lines.append(
            f"⚠ The server ended the answer for a reason gptmagic does not know ({said}): "
            "the text above may be cut short."
        )
    if r.calls_as_typed:
        lines.append(calls_note(r.calls_as_typed, r.tools))
    if r.n > 1 and len(answers) < r.n and outcome == "complete":
        lines.append(
            f"Asked for {r.n} answers; the server returned {len(answers)} "
            "(it ignores n). The first is kept in the history."
        )
    return lines


def calls_note(calls: list[str], tools: bool = False) -> str:
    """Braces holding a call on a kernel variable went to the model as typed, not as data;
    the ways to send data, less the one the cell already used (``--tools``)."""
    shown = ", ".join(calls[:3]) + (f" and {len(calls) - 3} more" if len(calls) > 3 else "")
    verb = "was" if len(calls) == 1 else "were"
    more = (
        "its tools let the model look at more" if tools else "--tools lets the model look at more"
    )
    return (
        f"ⓘ {shown} {verb} sent as typed: prompts fill in names, attributes and literal "
        f"subscripts, never calls ({{df}} sends a frame's first rows; {more})."
    )


def cut_note(max_tokens: int | None) -> str:
    """finish_reason "length": what ended the answer, as far as it is known."""
    if max_tokens is not None:
        return (
            f"✂ The answer was cut by max_tokens = {max_tokens} "
            "(finish_reason: length); raise --max-tokens for a longer answer."
        )
    return (
        "✂ The answer was cut short (finish_reason: length) though no max_tokens was set: "
        "the model's context window (prompt + history + answer) or the server's own "
        "output limit ended it. Shorten the history (%gpt reset, --no-history) or the "
        "prompt, or ask for more with --max-tokens."
    )


def failure(result: Outcome, r: CellRequest, host: str, rerun_helps: bool) -> GPTMagicError | None:
    """The one-line error the cell fails with unless the answer is complete (the output
    above says the same); None for a complete answer."""
    outcome, kept = result.status, result.kept
    if outcome == "interrupted":
        if kept is None:
            text = "Interrupted before any text arrived; nothing was stored in the history."
        elif r.use_history:
            text = (
                "Interrupted: the partial answer is shown and kept in the history, marked "
                "as interrupted."
            )
        else:
            text = "Interrupted: the partial answer is shown (--no-history: not stored)."
        return InterruptedAnswer(text)
    if outcome == "incomplete":
        rerun = "; re-run the cell" if rerun_helps else ""
        shown = "The text so far is shown; it was not stored"
        if kept is None:  # no partial answer to speak of
            shown = "No answer text arrived; nothing was stored"
        return GPTMagicError(f"The answer is incomplete: {result.cause}. {shown}{rerun}.")
    if outcome == "empty":
        return GPTMagicError(empty_answer(result.reasons[0], r.max_tokens, host))
    return None


def empty_answer(reason: str | None, max_tokens: int | None, host: str) -> str:
    """Why an answer that finished has no text, and what to do (finish_reason says)."""
    if reason == "length":
        if max_tokens is not None:
            return (
                f"The answer is empty: max_tokens = {max_tokens} was used up before any "
                "text (reasoning models think first). Raise --max-tokens. Nothing was stored."
            )
        return (
            "The answer is empty: the model's context was full before any text "
            "(finish_reason: length, no max_tokens set). Shorten the history (%gpt "
            "reset, --no-history) or the prompt. Nothing was stored."
        )
    if reason == "content_filter":
        return (
            "The answer is empty: the server's content filter stopped it "
            "(finish_reason: content_filter). Nothing was stored."
        )
    said = f"finish_reason: {reason}"
    if reason == UNEXPLAINED:
        said = "status: incomplete, no incomplete_details.reason"
    return (
        f"{host} returned an empty answer ({said}, no text). "
        "The prompt and history probably exceed the model's context (some servers and "
        "gateways then answer with nothing), or the server dropped the answer: try %gpt "
        "reset, --no-history or a shorter prompt. Nothing was stored."
    )
