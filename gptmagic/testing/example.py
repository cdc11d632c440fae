"""The shared example notebook: its scripted answers, and how its replay cache is recorded.

``notebooks/shared_example.ipynb`` is committed executed, with the answers it got in
``notebooks/shared_example.gptcache.jsonl`` next to it. To record both again (a fresh cache
file, and the executed notebook written in place)::

    python -m gptmagic.testing.example notebooks/shared_example.ipynb

The local test server listens on the fixed port :data:`RECORD_PORT`, so the host in every
record (part of its cache key) is the same each time the example is recorded again. A replay
needs no address: in replay mode a recording made against one other server is used, and says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..cache import MODE_ENV
from .notebook import execute
from .server import FakeOpenAI, Reply

RECORD_PORT = 47811

TABLE = """\
| | pandas | polars |
|---|---|---|
| API | eager, index-based | lazy or eager, expression-based |
| speed | single-threaded for most operations | multi-threaded, query optimiser |
| memory | NumPy blocks, copies are common | Apache Arrow columns, zero-copy |

Choose **pandas** for its ecosystem, **polars** for large data on one machine."""

CODE = '''\
```python
import pandas as pd


def zscores(values: pd.Series) -> pd.Series:
    """How many standard deviations each value lies from the mean."""
    return (values - values.mean()) / values.std(ddof=1)
```

`ddof=1` gives the sample standard deviation, as pandas does by default.'''

MATH = r"""The sample standard deviation of $x_1, \dots, x_n$ is

$$s = \sqrt{\frac{1}{n-1} \sum_{i=1}^{n} (x_i - \bar{x})^2}$$

where $\bar{x}$ is the mean; dividing by $n - 1$ (Bessel's correction) removes the bias."""

REPLIES = (Reply(text=TABLE), Reply(text=CODE), Reply(text=MATH))


def cache_path(notebook: Path) -> Path:
    """The cache file the notebook names (``%config GPTMagic.cache``): next to it."""
    return notebook.with_suffix(".gptcache.jsonl")


def record(notebook: Path) -> Any:
    """Execute ``notebook`` in record mode against the local server; returns the executed node."""
    cache_path(notebook).unlink(missing_ok=True)
    with FakeOpenAI(port=RECORD_PORT, lifetime=300) as server:
        server.enqueue(*REPLIES)
        env = {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-local-test-server",
            MODE_ENV: "record",
        }
        return execute(notebook, env)


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    args = parser.parse_args(argv)
    nb = record(args.notebook)
    nbformat.write(nb, args.notebook)
    lines = cache_path(args.notebook).read_text(encoding="utf-8").count("\n")
    print(f"Recorded {args.notebook}: {lines} answers in {cache_path(args.notebook)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
