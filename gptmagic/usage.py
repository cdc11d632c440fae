"""Token accounting per answer and per kernel, and the ``token_budget`` guard.

Counts come from the server's ``usage``. When a server reports none for a complete answer
(llama.cpp streams, for one), the answer is recorded as *not reported* with an estimate kept
apart. Two kinds of answers are told apart from those:

* cut short (interrupted, or the stream broke): the server never got to report usage, but
  the tokens were billed, so an estimate (prompt + text so far, labelled) counts toward the
  kernel total and ``token_budget``;
* replayed from the cache: nothing was sent, so nothing is billed or counted; their recorded
  usage is shown apart.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

NAMES = ("prompt_tokens", "input_tokens", "completion_tokens", "output_tokens", "total_tokens")


def count(value: object) -> int | None:
    """A token count as a server reported it (a finite number), at least 0; None if none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    return max(int(value), 0)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0  # the part of completion_tokens a reasoning model spent thinking

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )

    @classmethod
    def from_api(cls, usage: object) -> Usage | None:
        """Read an SDK usage object (chat or images naming) or a dict; None if absent.

        Whatever a server sends, this returns, never raises: a negative count reads as 0 (a
        server must not lower the kernel's total, which ``token_budget`` counts on), a total
        is never below prompt + completion, and a report with no count, or with a count that
        is not a finite number (text, a bool, ``1e999``), is None: *not reported*, since one
        bad field makes the others doubtful.
        """
        if usage is None:
            return None
        get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
        found = {k: count(v) for k in NAMES if (v := get(k)) is not None}
        if not found or None in found.values():
            return None
        prompt = found.get("prompt_tokens") or found.get("input_tokens") or 0
        completion = found.get("completion_tokens") or found.get("output_tokens") or 0
        total = max(found.get("total_tokens") or 0, prompt + completion)
        details = get("output_tokens_details") or get("completion_tokens_details")
        reasoning = count(get("reasoning_tokens") or _field(details, "reasoning_tokens")) or 0
        return cls(prompt, completion, total, min(reasoning, completion))

    def to_dict(self) -> dict[str, int]:
        """The counts; ``reasoning_tokens`` only when a model reasoned (stored shapes stay)."""
        data = asdict(self)
        if not self.reasoning_tokens:
            del data["reasoning_tokens"]
        return data


def _field(obj: object, name: str) -> object:
    """A field of an SDK object or a dict (e.g. ``output_tokens_details``); None if absent."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


CUT_SHORT = ("interrupted", "incomplete")  # billed, never reported: the estimate counts


@dataclass
class UsageRecord:
    kind: str  # "chat" or "image"
    model: str
    usage: Usage | None  # None: the server did not report usage
    estimate: Usage | None = None  # gptmagic's own estimate (prompt + answer)
    status: str = "complete"  # or one of CUT_SHORT, or "replayed" (not billed)
    time: float = field(default_factory=time.time)

    @property
    def counted(self) -> Usage | None:
        """What this answer adds to the kernel total (an estimate only when cut short)."""
        if self.status == "replayed":
            return None
        if self.usage is None and self.status in CUT_SHORT:
            return self.estimate
        return self.usage


@dataclass
class UsageLedger:
    records: list[UsageRecord] = field(default_factory=list)
    # Kept as records are added, so every cell's budget check costs the same at turn 500.
    total: Usage = field(default_factory=Usage)  # billed: reported, plus estimates (cut short)
    estimated: int = 0  # tokens of `total` that are estimates
    replayed: Usage = field(default_factory=Usage)  # as recorded; not billed, not in `total`

    def add(self, record: UsageRecord) -> None:
        self.records.append(record)
        if record.status == "replayed":
            self.replayed = self.replayed + (record.usage or Usage())
        elif counted := record.counted:
            self.total = self.total + counted
            if record.usage is None:
                self.estimated += counted.total_tokens

    @property
    def unreported(self) -> int:
        """Complete answers whose server reported no usage (they are not in the total)."""
        return sum(
            1 for r in self.records if r.usage is None and r.status not in (*CUT_SHORT, "replayed")
        )

    def total_line(self) -> str:
        """The kernel total in words, saying how much of it is estimated."""
        estimated = f" (≈{self.estimated:,} of them estimated)" if self.estimated else ""
        return f"{self.total.total_tokens:,}{estimated}"

    def over_budget(self, budget: int | None) -> bool:
        return budget is not None and self.total.total_tokens >= budget

    def budget_refusal(self, budget: int | None) -> str | None:
        """Why a new request must not be sent (``token_budget`` reached), or None."""
        if not self.over_budget(budget):
            return None
        return (
            f"Token budget reached: this kernel used {self.total_line()} "
            f"of GPTMagic.token_budget = {budget:,} tokens. Raise it with %config, or "
            "reset the count with %gpt usage --reset."
        )

    def reset(self) -> None:
        self.records.clear()
        self.total, self.estimated, self.replayed = Usage(), 0, Usage()

    def to_markdown(self) -> str:
        """A table of every answer's usage and the kernel's total."""
        if not self.records:
            return "No tokens used yet in this kernel."
        rows = [
            "| # | kind | model | prompt | completion | total | |",
            "|---|---|---|--:|--:|--:|---|",
        ]
        for i, r in enumerate(self.records, 1):
            rows.append(f"| {i} | {r.kind} | {r.model} | {_cells(r)} |")
        t = self.total
        estimated = f"≈{self.estimated:,} estimated" if self.estimated else ""
        rows.append(
            f"| **kernel** | | | **{t.prompt_tokens:,}** | **{t.completion_tokens:,}** "
            f"| **{t.total_tokens:,}** | {estimated} |"
        )
        if self.unreported:
            rows.append(
                f"\n{self.unreported} answer(s) came from a server that reports no usage; "
                "they are not in the total."
            )
        replays = sum(1 for r in self.records if r.status == "replayed")
        if replays:
            rows.append(
                f"\n{replays} answer(s) were replayed from the cache "
                f"({self.replayed.total_tokens:,} tokens as recorded): nothing was sent, so "
                "they are not billed and not in the total."
            )
        return "\n".join(rows)


def _cells(r: UsageRecord) -> str:
    """The prompt, completion, total and note cells of one answer's row."""
    if r.status == "replayed":
        u, numbers = r.usage, "– | – | –"
        if u is not None:
            numbers = f"({u.prompt_tokens:,}) | ({u.completion_tokens:,}) | ({u.total_tokens:,})"
        return f"{numbers} | replayed: not billed, not in the total"
    if r.usage is not None:
        u = r.usage
        note = f"{r.status} (as reported)" if r.status != "complete" else ""
        return f"{u.prompt_tokens:,} | {u.completion_tokens:,} | {u.total_tokens:,} | {note}"
    e = r.estimate or Usage()
    if r.status in CUT_SHORT:
        numbers = f"≈{e.prompt_tokens:,} | ≈{e.completion_tokens:,} | ≈{e.total_tokens:,}"
        return f"{numbers} | {r.status}: estimated (never reported), counted"
    return f"– | – | – | not reported by the server (≈{e.total_tokens:,} est., not counted)"
