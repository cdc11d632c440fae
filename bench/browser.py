"""What streaming costs the browser: JupyterLab in headless Chromium, measured with CDP.

For paced answers of several sizes, three ways of showing the same Markdown are run side by
side in one page and one kernel:

* ``stream``: ``%%gpt`` streaming the answer (the product);
* ``final``: ``%%gpt --no-stream``, the same answer shown once as Markdown (the floor);
* ``print``: a cell printing the same tokens at the same pace (a plain text stream);
* ``busy``: a cell that only sleeps as long as the paced answer takes (what a busy kernel
  costs the page with no output at all: the part of any stream's cost no display can save);
* ``floor``: a tiny Markdown display (``word 1``, ``word 2``…) updated in place 8 times a
  second for as long: what the frontend charges for an in-place update whatever its content,
  so the cost of any live display at a given update rate.

``--variants`` runs the ``stream`` way once per set of display constants (e.g.
``'MIN_INTERVAL=0.05,MAX_WAIT=1e9;MIN_INTERVAL=0.25'``, names from ``gptmagic.streaming``),
for the trade-off between visible updates a second and cost. Before measuring, the page
renders Markdown and math once, so the frontend's lazily loaded parser and typesetter are
not charged to whichever cell renders Markdown first.

Main-thread time comes from the Chrome DevTools Protocol (``Performance.getMetrics`` in the
``threadTicks`` domain: task, script, layout and style durations, layout count), read before
and after each cell; the page's idle background rate, measured first, is subtracted. A
MutationObserver in the page records when the answer's visible text changes, for the first
visible text (against the time the server sent its first SSE event) and the updates a second.

    .venv/bin/python bench/browser.py [--tokens 1000,4000,16000] [--rate 96] [--repeats 3]
        [--ways stream,final,…] [--variants …] [--frontend lab|notebook] [--screenshots DIR]

``--frontend notebook`` runs the same notebook in Notebook 7 (same server, ``/notebooks/``);
``--screenshots DIR`` saves the page at a quarter, half and three quarters of the first
streamed answer. Needs Debian's chromium and the bench extra (jupyterlab, notebook,
playwright): ``pip install -e '.[test,bench]'``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
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
WAYS = ("stream", "final", "print", "busy", "floor")
SETUP = """%load_ext gptmagic
import time, uuid
import gptmagic.streaming as _streaming
from IPython.display import Markdown, display, update_display
from gptmagic.testing.server import lorem, tokenize
display(Markdown("Warm-up: *Markdown* and $x^2$ once."))

def _updated_in_place(seconds, per_second=8):
    _id = uuid.uuid4().hex
    display({"text/markdown": "word 0"}, raw=True, display_id=_id)
    for _i in range(1, int(seconds * per_second)):
        time.sleep(1 / per_second)
        update_display({"text/markdown": f"word {_i}"}, raw=True, display_id=_id)
"""
ANSWER = "Lorem"  # how every answer starts (gptmagic.testing.server.lorem), unlike status lines
OBSERVE = """cell => {
    // Lab clears the cell's old outputs when it runs: only what comes after counts.
    window.benchStates = [];
    let cleared = false;
    const record = () => {
        const outs = cell.querySelectorAll('.jp-OutputArea-output');
        let text = '';
        for (const o of outs) text += o.textContent;
        if (!text) { cleared = true; return; }
        const states = window.benchStates, last = states[states.length - 1];
        const state = [Date.now(), text.length, text.trim().slice(0, 12), text.slice(-12)];
        if (cleared && (!last || last[1] !== state[1] || last[3] !== state[3]))
            states.push(state);
    };
    if (window.benchObserver) window.benchObserver.disconnect();  // the last cell's
    window.benchObserver = new MutationObserver(record);
    window.benchObserver.observe(cell, {subtree: true, childList: true, characterData: true});
}"""


def cells(tokens: int, delay: float, variants: list[str]) -> list[str]:
    """The notebook: setup, one cell per way of showing the answer, one setter per variant."""
    return [
        SETUP,
        "%%gpt\nWrite the long answer.",
        "%%gpt --no-stream\nWrite the long answer.",
        f"for _t in tokenize(lorem({tokens})):\n    print(_t, end='', flush=True)\n"
        f"    time.sleep({delay!r})",
        f"time.sleep({tokens * delay!r})",
        f"_updated_in_place({tokens * delay!r})",
        *(setter(variant) for variant in variants),
    ]


@dataclass
class Sample:
    """One cell's cost in the page, background subtracted (seconds, counts)."""

    metrics: dict[str, float]
    wall: float
    first_text: float | None = None  # seconds from the first SSE byte to visible text
    updates_per_s: float | None = None
    longest_gap: float | None = None  # seconds without a visible change while text arrived


@dataclass
class Row:
    tokens: int
    way: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, name: str) -> float:
        if name in ("wall", "first_text", "updates_per_s", "longest_gap"):
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


def measure(
    page: Page, lab, server: ServerProcess, index: int, idle: dict[str, float], shots=()
) -> Sample:
    """Run cell ``index`` and return what it cost the page (saving ``shots``: (seconds
    after the run starts, path) pairs, while it runs)."""
    cell = harness.cell(page.page, index)
    cell.evaluate(OBSERVE)
    before, start = page.metrics(), time.monotonic()
    harness.run_cell(page.page, index)
    for at, path in shots:
        time.sleep(max(0.0, start + at - time.monotonic()))
        harness.screenshot(page.page, path)
    time.sleep(0.5)
    harness.wait_kernel_idle(lab, timeout=900, settle=0.5)
    wall = time.monotonic() - start
    after = page.metrics()
    metrics = {k: after[k] - before[k] - idle[k] * wall for k in METRICS}
    states = page.page.evaluate("window.benchStates")
    states = [s for s in states if s[2].startswith((ANSWER, "word"))]
    updates_per_s, longest_gap = cadence(states)
    return Sample(metrics, wall, updates_per_s=updates_per_s, longest_gap=longest_gap)


def cadence(states: list[list[float]]) -> tuple[float | None, float | None]:
    """Visible changes of the answer a second while it was arriving (first to last change),
    and the longest wait between two of them (what the eye reads as a stall)."""
    if len(states) < 3:
        return None, None
    times = [s[0] / 1000 for s in states]
    span = times[-1] - times[0]
    longest = max(b - a for a, b in itertools.pairwise(times))
    return ((len(states) - 1) / span if span > 0 else None), longest


def first_visible(page: Page, server: ServerProcess) -> float | None:
    """Seconds from the server's first SSE event to the first visible text in the page."""
    states = [s for s in page.page.evaluate("window.benchStates") if s[2].startswith(ANSWER)]
    if not states:
        return None
    first_byte_wall = server.last_first_byte() + (time.time() - time.monotonic())
    return states[0][0] / 1000 - first_byte_wall


def setter(variant: str) -> str:
    """A cell setting the display constants of one variant (defaults first)."""
    lines = ["import importlib", "importlib.reload(_streaming)"]
    for assignment in filter(None, variant.split(",")):
        name, value = assignment.split("=")
        lines.append(f"_streaming.{name.strip()} = {float(value)!r}")
    return "\n".join(lines)


def open_in(frontend: str, raw, lab) -> None:
    """Open the notebook and run its setup cell, in JupyterLab or in Notebook 7."""
    if frontend == "lab":
        harness.open_notebook(raw, lab, "bench.ipynb")
        harness.run_cell(raw, 0)
        harness.wait_kernel_idle(lab)
        return
    raw.goto(f"{lab.url}/notebooks/bench.ipynb?token={lab.token}")
    # Notebook 7 has no status bar saying the kernel is connected: run the setup cell until
    # its prompt shows an execution count (cells run before the kernel connects are dropped).
    prompt = harness.cell(raw, 0).locator(".jp-InputPrompt")
    for _ in range(30):
        harness.cell(raw, 0).wait_for(timeout=60_000)
        harness.run_cell(raw, 0)
        time.sleep(2)
        harness.wait_kernel_idle(lab)
        if any(ch.isdigit() for ch in prompt.inner_text()):
            return
    raise TimeoutError("Notebook 7 never ran the setup cell")


def plan(args) -> list[tuple[str, str, int, int | None]]:
    """(row label, way, cell index, setter cell index) in the order they run."""
    index = {way: i for i, way in enumerate(WAYS, start=1)}
    steps = []
    for way in args.ways:
        if way == "stream" and args.variants:
            for n, variant in enumerate(args.variants):
                label = f"stream {variant or 'as shipped'}"
                steps.append((label, way, index[way], len(WAYS) + 1 + n))
        else:
            steps.append((way, way, index[way], None))
    return steps


def run_size(args, server: ServerProcess, tokens: int, tmp: Path) -> list[Row]:
    delay = 1.0 / args.rate
    root = tmp / f"nb{tokens}"
    root.mkdir()
    harness.write_notebook(root / "bench.ipynb", cells(tokens, delay, args.variants))
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, "NO_PROXY": "127.0.0.1"}
    steps = plan(args)
    rows = {label: Row(tokens, label) for label, *_ in steps}
    with harness.JupyterLab(root, extra_env=env) as lab, harness.browser(tmp) as raw:
        page = Page(raw)
        open_in(args.frontend, raw, lab)
        idle = page.idle_rate()
        for repeat in range(args.repeats):
            for label, way, index, setter in steps:
                if setter is not None:
                    harness.run_cell(raw, setter)
                    harness.wait_kernel_idle(lab)
                if way in ("stream", "final"):
                    server.enqueue(tokens=tokens, chunk_delay=delay if way == "stream" else 0)
                shots = []
                if args.screenshots and way == "stream" and not repeat and label == steps[0][0]:
                    seconds, folder = tokens * delay, Path(args.screenshots)
                    name = f"{args.frontend}-{tokens}-stream-{{}}.png"
                    shots = [(seconds * q / 4, folder / name.format(q)) for q in (1, 2, 3)]
                sample = measure(page, lab, server, index, idle, shots)
                if way == "stream":
                    sample.first_text = first_visible(page, server)
                rows[label].samples.append(sample)
                server.reset()
    return list(rows.values())


def report(rows: list[Row], args) -> str:
    lines = [
        f"Paced at {args.rate:g} tokens/s; medians of {args.repeats}; main-thread seconds "
        "(threadTicks) with the idle page's background subtracted.",
        "",
        "| tokens | way | task s | script s | layout s | style s | layouts | × final "
        "| first text ms | updates/s | longest gap s | wall s |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
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
            f"{'' if ups != ups else f'{ups:.1f}'} | {blank_nan(r.median('longest_gap'), '.2f')} | "
            f"{r.median('wall'):.1f} |"
        )
    return "\n".join(lines)


def blank_nan(value: float, spec: str) -> str:
    return "" if value != value else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default="1000,4000,16000")
    parser.add_argument("--rate", type=float, default=96.0, help="tokens a second")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--variants", help="';'-separated NAME=value,… sets of display constants; '' = as shipped"
    )
    parser.add_argument("--frontend", choices=("lab", "notebook"), default="lab")
    parser.add_argument("--screenshots", help="folder for PNGs of the page mid-stream")
    parser.add_argument("--ways", default=",".join(WAYS), help="of: " + ", ".join(WAYS))
    args = parser.parse_args()
    args.ways = args.ways.split(",")
    args.variants = args.variants.split(";") if args.variants is not None else []
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
    package = "jupyterlab" if args.frontend == "lab" else "notebook"
    print(f"- frontend: {package} {importlib.metadata.version(package)}, Chromium headless")
    print()
    print(report(rows, args))


if __name__ == "__main__":
    main()
