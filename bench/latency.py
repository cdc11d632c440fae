"""Item 2: from the first SSE byte leaving the server to the first words the user can see.

gptmagic: arrival on iopub (what a frontend receives) of the first display message showing
the answer's first word. The raw SDK: the moment its stream yields the first content chunk
inside the same kernel. Both are measured from the server's own timestamp of its first SSE
event; every clock is ``time.monotonic()`` (system-wide on Linux).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import cells
from kernel import Kernel
from serverproc import ServerProcess

REPLY = {"tokens": 20, "chunk_delay": 0.02}  # the rest trickles in while the first shows


@dataclass
class FirstText:
    """Medians in seconds."""

    gptmagic: float
    sdk: float
    added: float
    repeats: int


def sdk_latency(kernel: Kernel, server: ServerProcess, api: cells.Api) -> float:
    server.reset()
    server.enqueue(**REPLY)
    first = float(kernel.execute(api.sdk_stream, {"t": "_bfirst"}).expression("t"))
    return first - server.last_first_byte(api.path)


def gptmagic_latency(kernel: Kernel, server: ServerProcess, api: cells.Api) -> float:
    kernel.execute(cells.gpt_before(api.name))
    server.reset()
    server.enqueue(**REPLY)
    shown = kernel.execute(cells.GPT_CELL).first_display_containing(cells.FIRST_WORD)
    return shown - server.last_first_byte(api.path)


def first_text(kernel: Kernel, server: ServerProcess, api: cells.Api, repeats: int) -> FirstText:
    """Both paths over ``api``, ``repeats`` times, alternating which goes first, in one
    warmed-up kernel."""
    paths = [("sdk", sdk_latency), ("gptmagic", gptmagic_latency)]
    rounds = []
    for i in range(repeats + 1):
        ordered = paths if i % 2 else paths[::-1]
        rounds.append({name: measure(kernel, server, api) for name, measure in ordered})
    rounds = rounds[1:]  # the first round warms both paths up
    return FirstText(
        gptmagic=statistics.median(r["gptmagic"] for r in rounds),
        sdk=statistics.median(r["sdk"] for r in rounds),
        added=statistics.median(r["gptmagic"] - r["sdk"] for r in rounds),
        repeats=repeats,
    )
