"""Item 5: a long conversation; the cost of one cell must not grow with the turns behind it.

In-process, in a real ``InteractiveShell`` (the server runs in its own process, so this
process's CPU is gptmagic's, IPython's and the SDK's alone). ``history_max_tokens`` is small
enough that trimming starts before turn 10, so every request from then on carries the same
history and any growth between turn 10 and the last turn is per-cell overhead: the plan
(trimming, token counts), the usage ledger, the final display.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from gptmagic.session import session_for

ANSWER_TOKENS = 200
HISTORY_TOKENS = 1200  # six turns of ~210 (exact) tokens: trimming from turn 7 on
WINDOW = 10  # turns around each sample point
PLAN_CALLS = 200


class CountingPublisher(DisplayPublisher):
    """Keeps the cell's outputs like a notebook does, printing nothing."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.outputs: list[dict] = []

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False):
        if not update:
            self.outputs.append(data)

    def clear_output(self, wait=False):
        self.outputs.clear()


@dataclass
class Turns:
    """Per-turn figures of one long conversation, in seconds."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    plan: dict[int, float] = field(default_factory=dict)  # turn -> one plan() call

    def at(self, name: str, turn: int) -> float:
        """Median over the ``WINDOW`` turns ending at ``turn`` (1-based)."""
        values = getattr(self, name)[max(0, turn - WINDOW) : turn]
        return statistics.median(values)


def make_shell(base_url: str, key: str) -> InteractiveShell:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    os.environ.update(OPENAI_API_KEY=key, OPENAI_BASE_URL=base_url)
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = CountingPublisher(shell=shell)
    for line in (
        "load_ext gptmagic",
        "config GPTMagic.display = 'markdown'",
        f"config GPTMagic.history_max_tokens = {HISTORY_TOKENS}",
    ):
        shell.run_line_magic(*line.split(" ", 1))
    return shell


def time_plan(shell: InteractiveShell, prompt: str) -> float:
    """One ``Conversation.plan`` (trimming and token counts) on the live conversation."""
    conversation = session_for(shell).conversation
    start = time.perf_counter()
    for _ in range(PLAN_CALLS):
        conversation.plan(prompt, budget=HISTORY_TOKENS)
    return (time.perf_counter() - start) / PLAN_CALLS


def run_turn(shell: InteractiveShell, server, turn: int) -> tuple[float, float]:
    """(CPU, wall) of one ``%%gpt`` cell."""
    server.enqueue(tokens=ANSWER_TOKENS)
    cpu, wall = time.process_time(), time.perf_counter()
    result = shell.run_cell(f"%%gpt\nTurn {turn}: go on.", store_history=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if not result.success:
        raise RuntimeError(f"turn {turn} failed: {result.error_in_exec}")
    return cpu, wall


def long_conversation(server, key: str, turns: int, samples: tuple[int, ...]) -> Turns:
    """Run ``turns`` cells; time plan() before the turns in ``samples``."""
    shell = make_shell(server.base_url, key)
    result = Turns()
    try:
        server.enqueue(tokens=ANSWER_TOKENS)
        shell.run_cell("%%gpt --no-history\nwarm up")  # imports the SDK; stores no turn
        for turn in range(1, turns + 1):
            if turn in samples:
                result.plan[turn] = time_plan(shell, f"Turn {turn}: go on.")
            cpu, wall = run_turn(shell, server, turn)
            result.cpu.append(cpu)
            result.wall.append(wall)
            if turn % 50 == 0:
                server.reset()  # keep the server's request log short
    finally:
        shell.run_line_magic("unload_ext", "gptmagic")
        InteractiveShell.clear_instance()
    return result
