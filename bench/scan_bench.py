"""Cost of scanning a prompt full of unmatched backtick runs: it must grow linearly.

    python bench/scan_bench.py [--sizes 80000,320000,1280000]

Builds prose with a backtick run of every length 1, 2, 3, … (each unmatched: no later run has
the same length), the worst case for finding where inline code ends, and times
``context.interpolate`` on it (nothing to interpolate, so the scan is all that is measured).
Prints one Markdown table: size, runs, seconds, and seconds per MB (flat when linear).
Standalone: no server, no key.
"""

from __future__ import annotations

import argparse
import time

from gptmagic.context import interpolate


def unmatched_runs(size: int) -> tuple[str, int]:
    """About ``size`` characters of text with backtick runs of distinct lengths."""
    parts, total, n = [], 0, 0
    while total < size:
        n += 1
        part = "`" * n + " word {x} "
        parts.append(part)
        total += len(part)
    return "".join(parts), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="80000,320000,1280000")
    args = parser.parse_args()
    print("| chars | backtick runs | seconds | s per MB |")
    print("|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        text, runs = unmatched_runs(size)
        start = time.perf_counter()
        interpolate(text, {"x": 1}, lambda value, label: str(value))
        seconds = time.perf_counter() - start
        print(f"| {len(text):,} | {runs:,} | {seconds:.3f} | {seconds / len(text) * 1e6:.3f} |")


if __name__ == "__main__":
    main()
