"""What streaming costs the browser: JupyterLab in headless Chromium, measured with CDP.

For paced answers of several sizes, three ways of showing the same Markdown are run side by
side in one page and one kernel:

* ``stream``: ``%%gpt`` streaming the answer (the product);
* ``final``: ``%%gpt --no-stream``, the same answer shown once as Markdown (the floor);
* ``print``: a cell printing the same tokens at the same pace (a plain text stream).

Main-thread time comes from the Chrome DevTools Protocol (``Performance.getMetrics`` in the
``threadTicks`` domain: task, script, layout and style durations, layout count), read before
and after each cell; the page's idle background rate, measured first, is subtracted. A
MutationObserver in the page records when the answer's visible text changes, for the first
visible text (against the time the server sent its first SSE event) and the updates a second.

    .venv/bin/python bench/browser.py [--tokens 1000,4000,16000] [--rate 96] [--repeats 3]

Needs Debian's chromium and the e2e extra (jupyterlab, playwright), like tests/e2e.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "e2e")]

import labharness as harness  # noqa: E402
from machine import details, load  # noqa: E402
from serverproc import KEY, ServerProcess  # noqa: E402

METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "LayoutCount")
WAYS = ("stream", "final", "print")
ANSWER = "Lorem"  # how every answer starts (gptmagic.testing.server.lorem), unlike status lines
OBSERVE = """cell => {
    window.benchStates = [];
    const record = () => {
        const outs = cell.querySelectorAll('.jp-OutputArea-output');
        let text = '';
        for (const o of outs) text += o.textContent;
        const states = window.benchStates;
        if (text && (!states.length || states[states.length - 1][1] !== text.length))
            states.push([Date.now(), text.length, text.trim().slice(0, 12)]);
    };
    new MutationObserver(record).observe(
        cell, {subtree: true, childList: true, characterData: true});
}"""


def cells(tokens: int, delay: float) -> list[str]:
    """The notebook: setup, then one cell per way of showing the answer."""
    return [
        "%load_ext gptmagic\nimport time\nfrom gptmagic.testing.server import lorem, tokenize",
        "%%gpt\nWrite the long answer.",
        "%%gpt --no-stream\nWrite the long answer.",
        f"for _t in tokenize(lorem({tokens})):\n    print(_t, end='', flush=True)\n"
        f"    time.sleep({delay!r})",
    ]


@dataclass
class Sample:
    """One cell's cost in the page, background subtracted (seconds, counts)."""

    metrics: dict[str, float]
    wall: float
    first_text: float | None = None  # seconds from the first SSE byte to visible text
    updates_per_s: float | None = None


@dataclass
class Row:
    tokens: int
    way: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, name: str) -> float:
        if name in ("wall", "first_text", "updates_per_s"):
            values = [getattr(s, name) for s in self.samples]
        else:
            values = [s.metrics[name] for s in self.samples]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else float("nan")


class Page:
    """A notebook page with a CDP session reading the main thread's metrics."""

    def __init__(self, page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable", {"timeDomain": "threadTicks"})

    def metrics(self) -> dict[str, float]:
        values = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return {name: values.get(name, 0.0) for name in METRICS}

    def idle_rate(self, seconds: float = 3.0) -> dict[str, float]:
        """Background cost per second of the idle page (cursor blink, status polling)."""
        before = self.metrics()
        time.sleep(seconds)
        after = self.metrics()
        return {k: (after[k] - before[k]) / seconds for k in METRICS}


def measure(page: Page, lab, server: ServerProcess, index: int, idle: dict[str, float]) -> Sample:
    """Run cell ``index`` and return what it cost the page."""
    cell = harness.cell(page.page, index)
    cell.evaluate(OBSERVE)
    before, start = page.metrics(), time.monotonic()
    harness.run_cell(page.page, index)
    time.sleep(0.5)
    harness.wait_kernel_idle(lab, timeout=900, settle=0.5)
    wall = time.monotonic() - start
    after = page.metrics()
    metrics = {k: after[k] - before[k] - idle[k] * wall for k in METRICS}
    states = page.page.evaluate("window.benchStates")
    return Sample(metrics, wall, updates_per_s=updates_per_second(states))


def updates_per_second(states: list[list[float]]) -> float | None:
    """Visible changes of the answer a second while it was arriving (first to last change)."""
    states = [s for s in states if s[2].startswith(ANSWER)]
    if len(states) < 3:
        return None
    span = (states[-1][0] - states[0][0]) / 1000
    return (len(states) - 1) / span if span > 0 else None


def first_visible(page: Page, server: ServerProcess) -> float | None:
    """Seconds from the server's first SSE event to the first visible text in the page."""
    states = [s for s in page.page.evaluate("window.benchStates") if s[2].startswith(ANSWER)]
    if not states:
        return None
    first_byte_wall = server.last_first_byte() + (time.time() - time.monotonic())
    return states[0][0] / 1000 - first_byte_wall


def run_size(args, server: ServerProcess, tokens: int, tmp: Path) -> list[Row]:
    delay = 1.0 / args.rate
    root = tmp / f"nb{tokens}"
    root.mkdir()
    harness.write_notebook(root / "bench.ipynb", cells(tokens, delay))
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, "NO_PROXY": "127.0.0.1"}
    rows = {way: Row(tokens, way) for way in WAYS}
    with harness.JupyterLab(root, extra_env=env) as lab, harness.browser(tmp) as raw:
        harness.open_notebook(raw, lab, "bench.ipynb")
        page = Page(raw)
        harness.run_cell(raw, 0)
        harness.wait_kernel_idle(lab)
        idle = page.idle_rate()
        for _ in range(args.repeats):
            for way, index in zip(WAYS, (1, 2, 3), strict=True):
                if way != "print":
                    server.enqueue(tokens=tokens, chunk_delay=delay if way == "stream" else 0)
                sample = measure(page, lab, server, index, idle)
                if way == "stream":
                    sample.first_text = first_visible(page, server)
                rows[way].samples.append(sample)
                server.reset()
    return list(rows.values())


def report(rows: list[Row], args) -> str:
    lines = [
        f"Paced at {args.rate:g} tokens/s; medians of {args.repeats}; main-thread seconds "
        "(threadTicks) with the idle page's background subtracted.",
        "",
        "| tokens | way | task s | script s | layout s | style s | layouts | × final "
        "| first text ms | updates/s | wall s |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    finals = {r.tokens: r.median("TaskDuration") for r in rows if r.way == "final"}
    for r in rows:
        first = r.median("first_text")
        ups = r.median("updates_per_s")
        lines.append(
            f"| {r.tokens:,} | {r.way} | {r.median('TaskDuration'):.2f} | "
            f"{r.median('ScriptDuration'):.2f} | {r.median('LayoutDuration'):.2f} | "
            f"{r.median('RecalcStyleDuration'):.2f} | {r.median('LayoutCount'):.0f} | "
            f"{r.median('TaskDuration') / finals[r.tokens]:.1f} | "
            f"{'' if first != first else f'{first * 1000:.0f}'} | "
            f"{'' if ups != ups else f'{ups:.1f}'} | {r.median('wall'):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default="1000,4000,16000")
    parser.add_argument("--rate", type=float, default=96.0, help="tokens a second")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if reason := harness.skip_unless_browser():
        sys.exit(reason)
    sizes = [int(t) for t in args.tokens.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(lifetime=7200) as server:
        for tokens in sizes:
            rows += run_size(args, server, tokens, Path(tmp))
            print(f"measured {tokens:,} tokens", file=sys.stderr, flush=True)
    for name, value in details():
        print(f"- {name}: {value}")
    print(f"- load average at end: {load()}")
    print()
    print(report(rows, args))


if __name__ == "__main__":
    main()
