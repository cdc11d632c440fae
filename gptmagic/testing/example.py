"""The committed example notebooks: their scripted answers, and how their replay caches are
recorded.

``notebooks/shared_example.ipynb`` and ``notebooks/analysis.ipynb`` are committed executed,
with the answers they got in a ``.gptcache.jsonl`` next to each. To record one again (a fresh
cache file, and the executed notebook written in place)::

    python -m gptmagic.testing.example notebooks/shared_example.ipynb
    python -m gptmagic.testing.example notebooks/analysis.ipynb

The local test server listens on the fixed port :data:`RECORD_PORT`, so the host in every
record (part of its cache key) is the same each time an example is recorded again. A replay
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

# notebooks/analysis.ipynb: answers that read the real data (data/sales.csv) correctly.
QUESTIONS = """\
Three questions the data can answer:

1. Which region sells the most units, and is its lead steady from month to month?
2. How does the mix of espresso machines and coffee grinders differ between regions?
3. Which months look unusual? `units` is `float64` although it counts machines, a hint that \
some values are missing."""
FIX = """\
`sales` has no column `unit price`: the `KeyError` names the column that was looked up. \
The price column is `price`:

```python
sales["revenue"] = sales["units"] * sales["price"]
```"""
REVENUE = (
    'sales["revenue"] = sales["units"] * sales["price"]\n'
    'print(sales.groupby("region")["revenue"].sum().sort_values(ascending=False))'
)
CHART = """\
Units sold per month in 2024, one line per region. **South** sells the most almost every \
month, **West** comes second, **North** and **East** trail. Every region peaks in November \
and December, South and West the most: a year-end season. North's drop in March is more \
likely the two missing `units` values than a real slump."""
LOOKING = "Let me look at `sales` first."
COLUMNS = """\
`sales` has 96 rows and 5 columns. Only `units` can hold missing values as loaded: it is \
`float64` although it counts machines, which is how pandas stores whole numbers with gaps \
(`sales["units"].isna().sum()` counts them); `month`, `region`, `product` and `price` \
have their natural types."""
DESCRIBE_SALES = {"name": "describe_variable", "arguments": '{"name": "sales"}'}
ANALYSIS = (
    Reply(text=QUESTIONS),
    Reply(text=FIX),
    Reply(text=f"Like this:\n\n```python\n{REVENUE}\n```"),
    Reply(text=CHART),
    Reply(text=LOOKING, tool_calls=[DESCRIBE_SALES]),
    Reply(text=COLUMNS),
)
SCRIPTS = {"shared_example": REPLIES, "analysis": ANALYSIS}


def cache_path(notebook: Path) -> Path:
    """The cache file the notebook names (``%config GPTMagic.cache``): next to it."""
    return notebook.with_suffix(".gptcache.jsonl")


def record(notebook: Path) -> Any:
    """Execute ``notebook`` in record mode against the local server, with its scripted
    answers; returns the executed node."""
    cache_path(notebook).unlink(missing_ok=True)
    with FakeOpenAI(port=RECORD_PORT, lifetime=300) as server:
        server.enqueue(*SCRIPTS[notebook.stem])
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
