"""Item 1: wall time ``%load_ext`` adds to a fresh kernel, against an empty cell."""

from __future__ import annotations

import compileall
import statistics
from dataclasses import dataclass
from pathlib import Path

from kernel import Kernel

WARM_UP_CELLS = 2  # a fresh kernel's first cells pay one-off costs a bare kernel pays too
EMPTY_CELLS = 3


@dataclass
class LoadTime:
    """Medians over fresh kernels, in seconds."""

    empty_cell: float
    load_cell: float
    added: float
    kernels: int


def compile_bytecode(package: Path) -> None:
    """Write the package's ``.pyc`` files, as ``pip install`` does. Without them (a checkout
    run with ``PYTHONDONTWRITEBYTECODE``, as on the bench machine) every fresh kernel compiles
    the sources at ``%load_ext``: about 15 ms no installed copy pays."""
    compileall.compile_dir(package, quiet=1)


def measure_one(
    python: str, env: dict[str, str], scratch: Path, extension: str
) -> tuple[float, float]:
    """(empty cell, load cell) wall times in one fresh kernel."""
    with Kernel(python, env, scratch) as kernel:
        for _ in range(WARM_UP_CELLS):
            kernel.execute("")
        empty = statistics.median(kernel.execute("").wall for _ in range(EMPTY_CELLS))
        load = kernel.execute(f"%load_ext {extension}").wall
    return empty, load


def load_time(
    python: str, env: dict[str, str], scratch: Path, extension: str, kernels: int
) -> LoadTime:
    """Median over ``kernels`` fresh kernels of the load cell minus an empty cell."""
    pairs = [measure_one(python, env, scratch, extension) for _ in range(kernels)]
    return LoadTime(
        empty_cell=statistics.median(e for e, _ in pairs),
        load_cell=statistics.median(lo for _, lo in pairs),
        added=statistics.median(lo - e for e, lo in pairs),
        kernels=kernels,
    )
