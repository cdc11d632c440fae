"""The printed report: Markdown tables, so it pastes as is into bench/RESULTS.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from cells import APIS, CHAT, Api
from conversation import Turns
from latency import FirstText
from loadtime import LoadTime
from streamcost import Cost

LOAD_TARGET = 0.020  # seconds added by %load_ext (issue 13)
LATENCY_TARGET = 0.010  # seconds after the SDK's first chunk
CPU_TARGET = 1.1  # times the plain SDK loop (issue 13)
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
    "gptmagic reads streams as plain JSON through the SDK's documented "
    "`with_raw_response.create(...).parse(to=openai.Stream[object])`: the SDK sends, retries "
    "and decodes the SSE as for its own streams but builds no pydantic model per chunk, which "
    "is about four fifths of its loop's CPU. The '… its own CPU' rows compare gptmagic with "
    "the same plain-JSON loop, so they show what gptmagic itself adds per token.",
    "Item 5 runs in-process in a real InteractiveShell with 200-token answers and "
    "`history_max_tokens = 1200`, so trimming is active from turn 7 and every request "
    "from turn 10 on carries the same history; figures are medians of the 10 turns up to "
    "each point.",
    'Rows marked (Responses API) run `%%gpt` with `GPTMagic.api = "responses"` beside a '
    "plain loop over the SDK's `client.responses.create(..., stream=True)` that keeps the "
    "`response.output_text.delta` text, in the same kernel, interleaved with the chat rows.",
    "Item 4 counts every iopub message of the `%%gpt` cell (status and execute_input "
    "included) and the size of their content as JSON.",
]


@dataclass
class Results:
    """Everything one run measured."""

    machine: list[tuple[str, str]]
    repeats: int
    load: dict[str, LoadTime] = field(default_factory=dict)  # by product
    first_text: dict[str, FirstText] = field(default_factory=dict)  # by API
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


def signed(seconds: float) -> str:
    """A difference: +1.2 ms, or −127 µs when gptmagic was the quicker (run-to-run noise)."""
    return f"+{duration(seconds)}" if seconds >= 0 else f"−{duration(-seconds)}"


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
    rows = []
    for api in APIS:
        first = results.first_text.get(api.name)
        if first is None:
            continue
        peer = "n/a: shows the answer only when complete" if api is CHAT else "–"
        rows.append(
            [
                "2",
                f"first SSE byte → first answer text on iopub{api.label} ({first.repeats} runs)",
                f"{duration(first.gptmagic)} ({signed(first.added)})",
                peer,
                f"SDK first chunk {duration(first.sdk)}",
                f"< SDK + {duration(LATENCY_TARGET)}",
                met(first.added < LATENCY_TARGET),
            ]
        )
    return rows


def peer_cpu(results: Results, tokens: int) -> str:
    peer = results.costs.get(("jupyter-ai", tokens))
    if peer is None:
        return "skipped"
    floor = results.costs["peer SDK loop", tokens].median("cpu")
    return f"{duration(peer.median('cpu'))} ({peer.median('cpu') / floor:.2f}×)"


def cpu_rows(results: Results) -> list[list[str]]:
    rows = []
    for api in APIS:
        for (way, tokens), cost in results.costs.items():
            if way != api.magic:
                continue
            floor = results.costs[api.floor, tokens].median("cpu")
            ratio = cost.median("cpu") / floor
            rows.append(
                [
                    "3",
                    f"kernel CPU to stream {tokens:,} tokens{api.label}",
                    f"{duration(cost.median('cpu'))} ({ratio:.2f}×)",
                    peer_cpu(results, tokens) if api is CHAT else "–",
                    f"SDK loop {duration(floor)}",
                    f"≤ {CPU_TARGET}× the SDK loop",
                    met(ratio <= CPU_TARGET),
                ]
            )
            if (api.plain, tokens) in results.costs:
                rows.append(own_cpu_row(results, api, tokens, cost.median("cpu")))
    return rows


def own_cpu_row(results: Results, api: Api, tokens: int, cpu: float) -> list[str]:
    """What gptmagic costs above the same SDK loop over plain JSON: its own work per token."""
    plain = results.costs[api.plain, tokens].median("cpu")
    return [
        "3",
        f"… its own CPU above the SDK loop over plain JSON{api.label}",
        f"{(cpu - plain) / tokens * 1e6:.1f} µs/token ({cpu / plain:.2f}×)",
        "–",
        f"plain-JSON loop {duration(plain)}",
        "–",
        "–",
    ]


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


def iopub_row(results: Results, cost: Cost, api: Api | None = None) -> list[str]:
    """One answer size: what gptmagic (and the peer) sent on iopub, and the wall times;
    ``api`` None for a paced answer (Chat Completions, no floor beside it)."""
    if api is None:
        label = f"{cost.tokens:,} at {results.paced_rate:g} tokens/s"
        peer = floor = None
    else:
        label = f"{cost.tokens:,}{api.label}"
        peer = results.costs.get(("jupyter-ai", cost.tokens)) if api is CHAT else None
        floor = results.costs.get((api.floor, cost.tokens))
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
    fast = [
        iopub_row(results, cost, api)
        for api in APIS
        for (way, _), cost in results.costs.items()
        if way == api.magic
    ]
    return fast + [iopub_row(results, cost) for cost in results.paced]


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
