"""The printed report: Markdown tables, so it pastes as is into bench/RESULTS.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from conversation import Turns
from latency import FirstText
from loadtime import LoadTime
from streamcost import Cost

LOAD_TARGET = 0.050  # seconds added by %load_ext
LATENCY_TARGET = 0.010  # seconds after the SDK's first chunk
CPU_TARGET = 1.5  # times the plain SDK loop
FLAT_TARGET = 1.25  # last turn / turn 10: "flat" on a noisy machine

PEER_METHOD = (
    "jupyter-ai's `%%ai` (openai-chat-custom, `streaming: true` so the same SSE stream "
    "arrives) shows the answer only once it is complete; its ratio is to the SDK loop in its "
    "own venv (its own `openai` version)."
)
METHOD = [
    "Kernel CPU is `time.process_time()` of the kernel process (all its threads), read by a "
    "cell just before and just after the measured one; the SDK loop is a plain loop over the "
    "raw `openai` stream of the same answer that keeps the text. Ratios are to that floor.",
    "Item 5 runs in-process in a real InteractiveShell with 200-token answers and "
    "`history_max_tokens = 1200`, so trimming is active from turn 7 and every request "
    "from turn 10 on carries the same history; figures are medians of the 10 turns up to "
    "each point.",
    "Item 4 counts every iopub message of the `%%gpt` cell (status and execute_input "
    "included) and the size of their content as JSON.",
]


@dataclass
class Results:
    """Everything one run measured."""

    machine: list[tuple[str, str]]
    repeats: int
    load: dict[str, LoadTime] = field(default_factory=dict)  # by product
    first_text: FirstText | None = None
    costs: dict[tuple[str, int], Cost] = field(default_factory=dict)  # (way, tokens)
    paced: list[Cost] = field(default_factory=list)  # gptmagic at a token rate
    paced_rate: float = 0.0
    turns: Turns | None = None
    turn_count: int = 0
    notes: list[str] = field(default_factory=list)


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def met(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def load_rows(results: Results) -> list[list[str]]:
    ours, peer = results.load.get("gptmagic"), results.load.get("jupyter-ai")
    if ours is None:
        return []
    theirs = f"+{duration(peer.added)}" if peer else "skipped"
    return [
        [
            "1",
            f"`%load_ext` added to a fresh kernel ({ours.kernels} kernels)",
            f"+{duration(ours.added)}",
            theirs,
            f"empty cell {duration(ours.empty_cell)}",
            f"< {duration(LOAD_TARGET)} added",
            met(ours.added < LOAD_TARGET),
        ]
    ]


def latency_rows(results: Results) -> list[list[str]]:
    first = results.first_text
    if first is None:
        return []
    return [
        [
            "2",
            f"first SSE byte → first answer text on iopub ({first.repeats} runs)",
            f"{duration(first.gptmagic)} (+{duration(first.added)})",
            "n/a: shows the answer only when complete",
            f"SDK first chunk {duration(first.sdk)}",
            f"< SDK + {duration(LATENCY_TARGET)}",
            met(first.added < LATENCY_TARGET),
        ]
    ]


def cpu_rows(results: Results) -> list[list[str]]:
    rows = []
    for (way, tokens), cost in results.costs.items():
        if way != "gptmagic":
            continue
        floor = results.costs["SDK loop", tokens].median("cpu")
        ratio = cost.median("cpu") / floor
        peer = results.costs.get(("jupyter-ai", tokens))
        theirs = "skipped"
        if peer is not None:
            peer_floor = results.costs["peer SDK loop", tokens].median("cpu")
            theirs = f"{duration(peer.median('cpu'))} ({peer.median('cpu') / peer_floor:.2f}×)"
        rows.append(
            [
                "3",
                f"kernel CPU to stream {tokens:,} tokens",
                f"{duration(cost.median('cpu'))} ({ratio:.2f}×)",
                theirs,
                f"SDK loop {duration(floor)}",
                f"≤ {CPU_TARGET}× the SDK loop",
                met(ratio <= CPU_TARGET),
            ]
        )
    return rows


def turn_rows(results: Results) -> list[list[str]]:
    turns, last = results.turns, results.turn_count
    if turns is None:
        return []
    first_plan, last_plan = turns.plan[min(turns.plan)], turns.plan[max(turns.plan)]
    rows = []
    for label, early, late in (
        ("kernel CPU per `%%gpt` cell", turns.at("cpu", 10), turns.at("cpu", last)),
        ("wall time per `%%gpt` cell", turns.at("wall", 10), turns.at("wall", last)),
        ("`Conversation.plan` (trim + token counts)", first_plan, last_plan),
    ):
        rows.append(
            [
                "5",
                f"{label}, turn 10 → {last}",
                f"{duration(early)} → {duration(late)} ({late / early:.2f}×)",
                "–",
                "–",
                f"flat (≤ {FLAT_TARGET}×)",
                met(late / early <= FLAT_TARGET),
            ]
        )
    return rows


def iopub_row(results: Results, cost: Cost, paced: bool) -> list[str]:
    """One answer size: what gptmagic (and the peer) sent on iopub, and the wall times."""
    label = f"{cost.tokens:,}" + (f" at {results.paced_rate:g} tokens/s" if paced else "")
    peer = None if paced else results.costs.get(("jupyter-ai", cost.tokens))
    floor = None if paced else results.costs.get(("SDK loop", cost.tokens))
    return [
        label,
        f"{cost.answer_bytes:,}",
        f"{cost.median('messages'):.0f} ({cost.median('displays'):.0f} displays)",
        f"{cost.median('iopub_bytes'):,.0f}",
        f"{cost.bytes_ratio:.2f}",
        f"{peer.median('messages'):.0f} / {peer.bytes_ratio:.2f}" if peer else "–",
        f"{duration(cost.median('wall'))} / {duration(floor.median('wall')) if floor else '–'}",
    ]


def iopub_rows(results: Results) -> list[list[str]]:
    fast = [cost for (way, _), cost in results.costs.items() if way == "gptmagic"]
    return [iopub_row(results, cost, paced=False) for cost in fast] + [
        iopub_row(results, cost, paced=True) for cost in results.paced
    ]


def render(results: Results) -> str:
    """The whole report as Markdown."""
    lines = ["## Machine", ""]
    lines += table(["", ""], [[name, value] for name, value in results.machine])
    lines += ["", f"## Results (medians; {results.repeats} repeats unless said)", ""]
    summary = load_rows(results) + latency_rows(results) + cpu_rows(results) + turn_rows(results)
    lines += table(["#", "measure", "gptmagic", "jupyter-ai", "baseline", "target", "met"], summary)
    lines += ["", "## iopub per answer (item 4: must grow at most linearly)", ""]
    lines += table(
        [
            "answer tokens",
            "answer bytes",
            "gptmagic iopub messages",
            "gptmagic iopub bytes",
            "bytes ÷ answer bytes",
            "jupyter-ai messages / bytes ÷ answer",
            "wall: gptmagic / SDK loop",
        ],
        iopub_rows(results),
    )
    notes = [*results.notes, *METHOD] + ([PEER_METHOD] if "jupyter-ai" in results.load else [])
    lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
