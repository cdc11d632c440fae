"""Cost of ``{df}`` in a prompt for 1e3, 1e6 and 1e7 rows: time and prompt size must stay flat.

    python bench/context_bench.py [--repeats N] [--sizes 1000,1000000,10000000]

Renders ``{df}`` through the same path as a ``%%gpt`` cell (``context.interpolate_cell`` on a real
``InteractiveShell`` with gptmagic loaded, so the ``GPTMagic.context_*`` settings apply), with
and without ``context_stats``, and prints one Markdown table: median and max time of the
repeats, characters and estimated tokens of the rendering. Building the frames is not timed.
Standalone: needs pandas and numpy, no server and no key.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from IPython.core.interactiveshell import InteractiveShell

from gptmagic.context import interpolate_cell
from gptmagic.tokens import estimate_tokens


def sales_frame(rows: int) -> pd.DataFrame:
    """A realistic mixed-dtype frame: dates, two text columns, ints, floats with gaps."""
    rng = np.random.default_rng(0)
    price = rng.uniform(5, 300, rows).round(2)
    price[::97] = np.nan
    regions = np.array(["North", "South", "East", "West"], dtype=object)
    products = np.array(["grinder", "espresso"], dtype=object)
    return pd.DataFrame(
        {
            "month": pd.date_range("2020-01-01", periods=rows, freq="min"),
            "region": np.tile(regions, rows // 4),
            "product": np.repeat(products, rows // 2),
            "units": rng.integers(1, 50, rows),
            "price": price,
        }
    )


def measure(magic, repeats: int) -> tuple[float, float, str]:
    """Median and max milliseconds of rendering ``{df}``, and the rendering."""
    times, prompt = [], ""
    ctx = magic.context()  # what a %%gpt cell renders its prompt with (settings, session, shell)
    for _ in range(repeats):
        start = time.perf_counter()
        prompt = interpolate_cell(ctx, "{df}")
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times), prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--sizes", default="1000,1000000,10000000")
    args = parser.parse_args()

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "gptmagic")
    magic = shell.magics_manager.registry["GPTMagic"]
    rows_out = []
    for rows in (int(s) for s in args.sizes.split(",")):
        shell.user_ns["df"] = sales_frame(rows)
        for stats in (False, True):
            magic.context_stats = stats
            measure(magic, 2)  # warm caches (imports, pandas' first-call paths)
            median, worst, prompt = measure(magic, args.repeats)
            rows_out.append((rows, stats, median, worst, len(prompt), estimate_tokens(prompt)))
        del shell.user_ns["df"]

    print(f"`{{df}}` rendering, median of {args.repeats} repeats (pandas {pd.__version__})\n")
    print("| rows | stats | median ms | max ms | prompt chars | ≈tokens |")
    print("|---:|:---:|---:|---:|---:|---:|")
    for rows, stats, median, worst, chars, tokens in rows_out:
        flag = "yes" if stats else "no"
        print(f"| {rows:,} | {flag} | {median:.2f} | {worst:.2f} | {chars:,} | {tokens:,} |")


if __name__ == "__main__":
    main()
