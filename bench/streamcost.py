"""Items 3 and 4: kernel CPU, and what goes out on iopub, to stream one answer.

The CPU is the kernel process's (every thread: the cell, the iopub and ZMQ threads), read
with ``time.process_time()`` in the kernel by a cell just before and a cell just after the
measured one, so both sides carry the same small overhead. The floor is a plain loop over
the raw SDK stream of the same answer from the same server.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import cells
from kernel import Execution, ExecutionError, Kernel
from serverproc import ServerProcess

from gptmagic.testing.server import lorem


@dataclass
class Run:
    """One measured answer."""

    cpu: float  # kernel CPU seconds
    wall: float  # request sent to kernel idle, seconds
    messages: int  # every iopub message of the cell
    displays: int  # of which outputs, updates, clears and printed text
    iopub_bytes: int  # their content as JSON


@dataclass
class Cost:
    """Medians of the runs of one way of streaming one answer size."""

    tokens: int
    answer_bytes: int
    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(run, name) for run in self.runs)

    @property
    def bytes_ratio(self) -> float:
        """iopub bytes per byte of the final answer."""
        return self.median("iopub_bytes") / self.answer_bytes


@dataclass
class Way:
    """How one kernel streams an answer: a cell before the measured one, and that cell."""

    before: str
    cell: str
    shows_answer: bool = True  # False for the floor, which displays nothing


def check_answer(execution: Execution, way: Way, answer: str, kernel: Kernel) -> None:
    """A run only counts if the whole answer arrived (and, for a magic, was shown)."""
    if way.shows_answer:
        if answer not in execution.final_text():
            raise ExecutionError("the final output does not hold the whole answer")
    elif int(kernel.execute("", {"n": "len(_btext)"}).expression("n")) != len(answer):
        raise ExecutionError("the SDK loop did not receive the whole answer")


def run_once(kernel: Kernel, server: ServerProcess, way: Way, reply: dict) -> Run:
    """Stream one scripted answer through ``way`` and measure the kernel."""
    kernel.execute(f"{way.before}\n{cells.START_CPU}")
    server.enqueue(**reply)
    execution = kernel.execute(way.cell)
    cpu = float(kernel.execute("", {"cpu": cells.CPU_SINCE_START}).expression("cpu"))
    check_answer(execution, way, lorem(reply["tokens"]), kernel)
    return Run(
        cpu=cpu,
        wall=execution.wall,
        messages=len(execution.messages),
        displays=len(execution.displays()),
        iopub_bytes=execution.iopub_bytes(),
    )


def stream_costs(
    kernel: Kernel,
    server: ServerProcess,
    ways: dict[str, Way],
    replies: list[dict],
    repeats: int,
) -> dict[tuple[str, int], Cost]:
    """Costs keyed by (way, tokens); ways alternate their order between repeats."""
    costs = {}
    for reply in replies:
        tokens = reply["tokens"]
        for name in ways:
            costs[name, tokens] = Cost(tokens, len(lorem(tokens).encode()))
        names = list(ways)
        for i in range(repeats):
            for name in names if i % 2 == 0 else names[::-1]:
                costs[name, tokens].runs.append(run_once(kernel, server, ways[name], reply))
    return costs


def warm_up(kernel: Kernel, server: ServerProcess, ways: dict[str, Way]) -> None:
    """One small answer through every way: imports and connections are not what we measure."""
    for way in ways.values():
        run_once(kernel, server, way, {"tokens": 50})
