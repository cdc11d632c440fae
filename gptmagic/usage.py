"""Token accounting per answer and per kernel, and the ``token_budget`` guard.

Counts come from the server's ``usage``. When a server reports none (llama.cpp streams, for
one), the answer is recorded as *not reported* with an estimate kept apart, so the kernel
total never mixes guesses with facts.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    @classmethod
    def from_api(cls, usage: object) -> Usage | None:
        """Read an SDK usage object (chat or images naming) or a dict; None if absent."""
        if usage is None:
            return None
        get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
        prompt = get("prompt_tokens") or get("input_tokens") or 0
        completion = get("completion_tokens") or get("output_tokens") or 0
        total = get("total_tokens") or prompt + completion
        return cls(int(prompt), int(completion), int(total))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class UsageRecord:
    kind: str  # "chat" or "image"
    model: str
    usage: Usage | None  # None: the server did not report usage
    estimated_tokens: int = 0
    time: float = field(default_factory=time.time)


@dataclass
class UsageLedger:
    records: list[UsageRecord] = field(default_factory=list)
    # Kept as records are added, so every cell's budget check costs the same at turn 500.
    total: Usage = field(default_factory=Usage)

    def add(self, record: UsageRecord) -> None:
        self.records.append(record)
        if record.usage is not None:
            self.total = self.total + record.usage

    @property
    def unreported(self) -> int:
        return sum(1 for r in self.records if r.usage is None)

    def over_budget(self, budget: int | None) -> bool:
        return budget is not None and self.total.total_tokens >= budget

    def budget_refusal(self, budget: int | None) -> str | None:
        """Why a new request must not be sent (``token_budget`` reached), or None."""
        if not self.over_budget(budget):
            return None
        return (
            f"Token budget reached: this kernel used {self.total.total_tokens:,} "
            f"of GPTMagic.token_budget = {budget:,} tokens. Raise it with %config, or "
            "reset the count with %gpt usage --reset."
        )

    def reset(self) -> None:
        self.records.clear()
        self.total = Usage()

    def to_markdown(self) -> str:
        """A table of every answer's usage and the kernel's total."""
        if not self.records:
            return "No tokens used yet in this kernel."
        rows = ["| # | kind | model | prompt | completion | total |", "|---|---|---|--:|--:|--:|"]
        for i, r in enumerate(self.records, 1):
            if r.usage is None:
                note = f"not reported (≈{r.estimated_tokens} est.)"
                rows.append(f"| {i} | {r.kind} | {r.model} | – | – | {note} |")
            else:
                u = r.usage
                rows.append(
                    f"| {i} | {r.kind} | {r.model} | {u.prompt_tokens:,} | "
                    f"{u.completion_tokens:,} | {u.total_tokens:,} |"
                )
        t = self.total
        rows.append(
            f"| **kernel** | | | **{t.prompt_tokens:,}** | **{t.completion_tokens:,}** "
            f"| **{t.total_tokens:,}** |"
        )
        if self.unreported:
            rows.append(
                f"\n{self.unreported} answer(s) came from a server that reports no usage; "
                "they are not in the total."
            )
        return "\n".join(rows)
