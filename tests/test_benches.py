"""The README's benchmark commands run as printed (on small sizes, so the tests stay quick)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_context_bench_prints_its_table_of_df_renderings():
    done = subprocess.run(
        [sys.executable, "bench/context_bench.py", "--repeats", "1", "--sizes", "1000,20000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 1,000 |")]
    assert [row.split(" | ")[1] for row in rows] == ["no", "yes"]
    assert "| 20,000 | yes |" in done.stdout
    assert done.stderr == ""
