"""The final output of an answer: Markdown for people, plain text, provenance metadata.

``text/plain`` is always the answer text itself; notes (history trimmed, cut by max_tokens,
interrupted, usage) appear only in the Markdown, so code that reads the plain text (``-o``,
nbformat tooling) gets the answer alone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from .usage import CUT_SHORT, Usage, UsageLedger, UsageRecord


def show_markdown(text: str) -> None:
    """Markdown for notebooks; the same text as ``text/plain`` for terminals and exports."""
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text}, raw=True)


def join_answers(texts: list[str], start: int = 1, *, plain: bool = False) -> str:
    """Several answers (``-n``) one after another under numbered headings.

    ``plain`` headings are text (``--- Answer 2 ---``) for ``text/plain`` and terminals.
    """
    if len(texts) == 1 and start == 1:
        return texts[0]
    heading = "--- Answer {} ---" if plain else "**Answer {}**"
    empty = "(empty)" if plain else "*(empty)*"
    return "\n\n".join(
        f"{heading.format(i)}\n\n{text or empty}" for i, text in enumerate(texts, start)
    )


def usage_footer(
    model: str, record: UsageRecord, ledger: UsageLedger, cut: Usage | None = None
) -> str:
    """One short line of cost: this answer's tokens and the kernel's running total. ``cut``
    is the estimate of a later tool round cut short (a record of its own), added in words."""
    usage, estimate = record.usage, (record.estimate or Usage()).total_tokens
    reasoning = usage.reasoning_tokens if usage else 0
    thinking = f", {reasoning:,} of it reasoning" if reasoning else ""
    if record.status == "replayed":
        recorded = f" ({usage.total_tokens:,} tokens when recorded{thinking})" if usage else ""
        spent = f"replayed{recorded}: not billed, not counted"
    elif usage is None and record.status in CUT_SHORT:
        spent = f"≈{estimate:,} tokens ({record.status}, never reported: estimate, counted)"
    elif usage is None:
        spent = f"usage not reported by the server (≈{estimate:,} tokens, estimate)"
    elif cut is not None:
        paid, guessed = usage.total_tokens, cut.total_tokens
        spent = (
            f"≈{paid + guessed:,} tokens ({paid:,} reported + ≈{guessed:,} for the "
            f"{record.status} round, never reported: estimate, counted)"
        )
    else:
        spent = (
            f"{usage.total_tokens:,} tokens ({usage.prompt_tokens:,} prompt + "
            f"{usage.completion_tokens:,} completion{thinking})"
        )
    return f"{model} · {spent} · kernel total {ledger.total_line()}"


_CODE_SPAN = re.compile(r"(`+).+?(?<!`)\1(?!`)", re.DOTALL)
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^\s<>]*)>")


def inert_html(markdown: str) -> str:
    """``markdown`` whose raw HTML shows as text: ``<`` outside code becomes ``&lt;``.

    A notebook renders the Markdown of its live outputs as trusted HTML, so an answer (or a
    reasoning summary) holding ``<img src=x onerror=...>`` would run script in the user's
    browser: a prompt-injected document could make the model write it. Code blocks and code
    spans are left as written (Markdown shows them as text anyway), and autolinks
    (``<https://...>``) become bare links, which GitHub-flavoured Markdown still links.
    """
    from .context import split_fences

    out: list[str] = []
    for is_code, part in split_fences(markdown):
        if is_code:
            out.append(part)
            continue
        position = 0
        for span in _CODE_SPAN.finditer(part):
            out += [_escape(part[position : span.start()]), span.group()]
            position = span.end()
        out.append(_escape(part[position:]))
    return "".join(out)


def _escape(prose: str) -> str:
    pieces = prose.split(LITERAL_DOLLAR)  # made here before: kept (inert_html runs again)
    inert = [_AUTOLINK.sub(r"\1", piece).replace("<", "&lt;") for piece in pieces]
    return LITERAL_DOLLAR.join(literal_dollars(piece) for piece in inert)


#: a dollar that no notebook pairs into math (see :func:`literal_dollars`)
LITERAL_DOLLAR = "<span>&#36;</span>"
# A single ``$`` not escaped and not part of ``$$`` (display math is left alone).
_DOLLAR = re.compile(r"(?<![\\$])\$(?!\$)")
_PARAGRAPH = re.compile(r"(\n[ \t]*\n)")
_ESCAPED_DOLLAR = re.compile(r"(?<!\\)\\\$")


def literal_dollars(prose: str) -> str:
    """``prose`` with every ``$`` that is not inline math shown as a plain dollar.

    Notebooks pair any two dollars into math, so "from $5 to $10" showed as "from" and an
    italic formula. Math is what Pandoc's rule says: a ``$`` followed by a non-space, closed
    by the next ``$`` in the paragraph when that one follows a non-space and is not followed
    by a digit; ``$x^2$`` and ``$$...$$`` stay math. The others become
    :data:`LITERAL_DOLLAR`: ``\\$`` is not enough in JupyterLab (its Markdown renderer turns
    it into a ``$`` that MathJax then pairs, jupyterlab#8645), ``\\\\$`` shows a backslash
    everywhere else, and an entity alone is paired once rendered; an entity in its own element
    is neither, and reads as ``$`` on GitHub, nbviewer and nbconvert.
    """
    if "$" not in prose:
        return prose
    prose = _ESCAPED_DOLLAR.sub(LITERAL_DOLLAR, prose)  # the model's own \\$: the same fate
    return "".join(_paragraph_dollars(part) for part in _PARAGRAPH.split(prose))


def _paragraph_dollars(text: str) -> str:
    found = [m.start() for m in _DOLLAR.finditer(text)]
    literal: list[int] = []
    i = 0
    while i < len(found):
        at = found[i]
        opens = at + 1 < len(text) and not text[at + 1].isspace()
        if opens and i + 1 < len(found) and _closes(text, found[i + 1]):
            i += 2  # inline math: both dollars kept
            continue
        literal.append(at)
        i += 1
    for at in reversed(literal):
        text = f"{text[:at]}{LITERAL_DOLLAR}{text[at + 1 :]}"
    return text


def _closes(text: str, at: int) -> bool:
    """Whether the ``$`` at ``at`` can close inline math (Pandoc's rule)."""
    after = text[at + 1 : at + 2]
    return not text[at - 1].isspace() and not after.isdigit()


# Markdown punctuation that could format a tool line (emphasis, links, math, code, tables).
# An underscore inside a word never emphasises, so describe_variable is left as written.
_LITERAL = re.compile(r"[\\`*\[\]~$|]|(?<![^\W_])_|_(?![^\W_])")


def literal_markdown(text: str) -> str:
    """``text`` as Markdown that shows exactly these characters: punctuation escaped, ``&``
    and ``<`` as entities (so :func:`inert_html` finds no HTML, nor a code span to skip
    between two escaped backticks)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return _LITERAL.sub(lambda match: "\\" + match.group(), text)


def call_line(summary: str) -> str:
    """A ``--tools`` call's quoted line, as written: the model's arguments and a masked
    ``***`` are text, so ``describe_variable(_raw_)`` never shows as *raw* in italics."""
    return f"> {literal_markdown(summary)}"


def answer_markdown(
    texts: list[str], notes: list[str], footer: str | None, steps: Sequence[str] = ()
) -> str:
    """Notes, then ``steps`` (Markdown blocks of a ``--tools`` exchange: what the model said
    and the calls it made, in order), the answers, the footer."""
    body = inert_html(join_answers(texts))
    parts = [f"> {inert_html(note)}" for note in notes]
    parts += [inert_html(step) for step in steps]
    parts.append(body)
    if footer:
        parts.append(f"<sub>{footer}</sub>")
    return "\n\n".join(p for p in parts if p)


def answer_bundle(
    texts: list[str], notes: list[str], footer: str | None, steps: Sequence[str] = ()
) -> dict[str, str]:
    return {
        "text/markdown": answer_markdown(texts, notes, footer, steps),
        "text/plain": join_answers(texts, plain=True),
    }


def provenance_line(meta: dict[str, Any]) -> str:
    """One small line saying what produced an answer (for history and exports); "" if unknown.

    Parameters are sorted so the line is the same after a round trip through nbformat (which
    sorts keys): loaders recognise and strip it.
    """
    if "model" not in meta:
        return ""
    params = meta.get("parameters") or {}
    usage, estimate = meta.get("usage"), meta.get("estimated_usage")
    if usage and estimate:  # a later tool round cut short: estimated beside the reported
        paid, guessed = usage["total_tokens"], estimate["total_tokens"]
        spent = f"≈{paid + guessed:,} tokens ({paid:,} reported + ≈{guessed:,} estimate)"
    elif usage:
        spent = f"{usage['total_tokens']:,} tokens"
    elif estimate:
        spent = f"≈{estimate['total_tokens']:,} tokens (estimate)"
    else:
        spent = "usage not reported"
    parts = [
        meta["model"],
        meta.get("host"),
        ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if v is not None and k != "stream"),
        spent,
        f"finish: {meta.get('finish_reason') or meta.get('status')}",  # None: interrupted
        meta.get("timestamp"),
        "replayed" if meta.get("replayed") else None,
    ]
    return "<sub>" + " · ".join(str(p) for p in parts if p) + "</sub>"


def timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def provenance(
    *,
    model: str,
    host: str,
    parameters: dict[str, Any],
    usage: Usage | None,
    finish_reasons: list[str | None],
    status: str,
    **extra: Any,
) -> dict[str, Any]:
    """The ``gptmagic`` output metadata: what produced this answer (never the key)."""
    return {
        "model": model,
        "host": host,
        "parameters": parameters,
        "usage": usage.to_dict() if usage else None,
        "finish_reason": finish_reasons[0] if finish_reasons else None,
        "finish_reasons": finish_reasons,
        "status": status,
        "timestamp": timestamp(),
        **extra,
    }
