"""Benchmark gptmagic against the raw openai SDK (and jupyter-ai's ``%%ai``) in one run.

    python bench/run.py [--quick] [--peer-venv DIR] [--out FILE]

Everything runs against the local test server (its own process, streaming as fast as it
can) in real ipykernels driven over ZMQ. Progress goes to stderr; the report, Markdown
tables with the machine's details, to stdout (and ``--out``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cells
import machine
from conversation import long_conversation
from kernel import Kernel
from latency import first_text
from loadtime import compile_bytecode, load_time
from peer import find_peer
from report import Results, render
from serverproc import KEY, ServerProcess
from streamcost import Way, stream_costs, warm_up

import gptmagic

QUICK = {"repeats": 2, "kernels": 2, "sizes": "200,2000", "paced_tokens": "200", "turns": 30}
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY")


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def kernel_env(server: ServerProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    return env | {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}


def replies(sizes: list[int]) -> list[dict]:
    return [{"tokens": tokens} for tokens in sizes]


def run_gptmagic(
    args: argparse.Namespace, server: ServerProcess, scratch: Path, results: Results
) -> None:
    """Items 2, 3 and 4 for gptmagic and its floor, for each API, in one kernel."""
    ways = {}
    for api in cells.APIS:
        ways[api.floor] = Way("", api.sdk_stream, shows_answer=False)
        ways[api.plain] = Way("", api.plain_stream, shows_answer=False)
        ways[api.magic] = Way(cells.gpt_before(api.name), cells.GPT_CELL)
    with Kernel(sys.executable, kernel_env(server), scratch) as kernel:
        kernel.execute(cells.SDK_SETUP + cells.GPT_SETUP)
        warm_up(kernel, server, ways)
        for api in cells.APIS:
            progress(f"item 2: first answer text ({api.name})")
            results.first_text[api.name] = first_text(kernel, server, api, 3 * args.repeats)
        progress(f"items 3, 4: streaming {args.sizes} tokens")
        results.costs |= stream_costs(kernel, server, ways, replies(args.sizes), args.repeats)
        if args.paced_tokens:
            progress(f"item 4: {args.paced_tokens} tokens at {args.paced_rate:g} tokens/s")
            paced = [{"tokens": n, "chunk_delay": 1 / args.paced_rate} for n in args.paced_tokens]
            only = {cells.CHAT.magic: ways[cells.CHAT.magic]}
            results.paced = list(stream_costs(kernel, server, only, paced, 1).values())
            results.paced_rate = args.paced_rate


def run_peer(
    args: argparse.Namespace, python: str, server: ServerProcess, scratch: Path, results: Results
) -> None:
    """Items 1, 3 and 4 for jupyter-ai, against the SDK of its own venv."""
    progress("peer: %load_ext jupyter_ai_magics")
    env = kernel_env(server)
    results.load["jupyter-ai"] = load_time(python, env, scratch, cells.PEER_EXTENSION, args.kernels)
    ways = {
        "peer SDK loop": Way("", cells.SDK_STREAM, shows_answer=False),
        "jupyter-ai": Way("", cells.peer_cell(server.base_url)),
    }
    with Kernel(python, env, scratch, name="peer") as kernel:
        kernel.execute(cells.SDK_SETUP + cells.PEER_SETUP)
        warm_up(kernel, server, ways)
        progress(f"peer: streaming {args.sizes} tokens")
        results.costs |= stream_costs(kernel, server, ways, replies(args.sizes), args.repeats)


def run_all(args: argparse.Namespace) -> Results:
    results = Results(machine=machine.details(), repeats=args.repeats)
    peer = find_peer(args.peer_venv)
    if peer.python:
        results.machine.append(("peer venv", peer.versions))
    else:
        results.notes.append(f"jupyter-ai skipped: {peer.skipped}")
    with (
        tempfile.TemporaryDirectory(prefix="gptmagic-bench-") as tmp,
        ServerProcess(lifetime=7200) as server,
    ):
        scratch = Path(tmp)
        progress(f"item 1: %load_ext gptmagic in {args.kernels} fresh kernels")
        compile_bytecode(Path(gptmagic.__file__).parent)
        results.load["gptmagic"] = load_time(
            sys.executable, kernel_env(server), scratch, "gptmagic", args.kernels
        )
        run_gptmagic(args, server, scratch, results)
        if peer.python:
            try:
                run_peer(args, peer.python, server, scratch, results)
            except Exception as exc:  # an optional peer must not sink the run: say why instead
                results.notes.append(f"jupyter-ai left out: {type(exc).__name__}: {exc}")
        progress(f"item 5: a {args.turns}-turn conversation")
        results.turns = long_conversation(server, KEY, args.turns, samples=(10, args.turns))
        results.turn_count = args.turns
    results.machine.append(("load average at end", machine.load()))
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--kernels", type=int, default=5, help="fresh kernels for %%load_ext")
    parser.add_argument("--sizes", default="1000,10000,100000", help="answer sizes in tokens")
    parser.add_argument("--paced-tokens", default="1000,4000", help="paced answers; 0: none")
    parser.add_argument("--paced-rate", type=float, default=40.0, help="tokens per second")
    parser.add_argument("--turns", type=int, default=500, help="conversation length")
    parser.add_argument("--peer-venv", help="a venv with jupyter-ai-magics and langchain-openai")
    parser.add_argument("--out", help="also write the report to this file")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the suite")
    if parser.parse_args(argv).quick:  # options given explicitly still win
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.paced_tokens = [int(size) for size in args.paced_tokens.split(",") if int(size)]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = render(run_all(args))
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
