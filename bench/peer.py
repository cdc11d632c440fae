"""The peer row: jupyter-ai's ``%%ai`` magic, from a separate virtualenv, on the same server.

It is optional: when the venv is missing or lacks a package, the reason is reported and the
rest of the benchmark runs without it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

NEEDED = ("jupyter_ai_magics", "langchain_openai", "ipykernel")
VERSIONS = ("jupyter-ai-magics", "langchain-openai", "openai", "ipykernel")
HOW = (
    "python3 -m venv DIR && DIR/bin/pip install jupyter-ai-magics 'langchain-openai<0.4' "
    "ipykernel, then --peer-venv DIR"
)

_PROBE = """\
import importlib, importlib.metadata as m
for name in {needed!r}:
    importlib.import_module(name)
print(", ".join(f"{{n}} {{m.version(n)}}" for n in {versions!r}))
"""


@dataclass
class Peer:
    """A usable peer interpreter, or the reason there is none."""

    python: str | None
    versions: str = ""
    skipped: str = ""


def find_peer(venv: str | None) -> Peer:
    """Check that ``venv`` can run ``%%ai`` against an OpenAI-compatible server."""
    if not venv:
        return Peer(None, skipped=f"no --peer-venv given ({HOW})")
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        return Peer(None, skipped=f"{python} does not exist ({HOW})")
    probe = _PROBE.format(needed=NEEDED, versions=VERSIONS)
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        return Peer(None, skipped=f"the peer venv cannot import what %%ai needs: {last}")
    return Peer(str(python), versions=done.stdout.strip())
