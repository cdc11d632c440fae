"""What the figures were measured on: they mean little without the machine and its load."""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "gptmagic",
    "openai",
    "httpx",
    "httpx2",
    "ipython",
    "ipykernel",
    "jupyter_client",
    "pyzmq",
)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else whatever ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def versions(packages: tuple[str, ...] = PACKAGES) -> str:
    """``name version`` of each installed package in this interpreter."""
    found = []
    for name in packages:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def load() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews every figure."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def details() -> list[tuple[str, str]]:
    """The machine lines printed above the tables."""
    return [
        ("date", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} cores"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("packages", versions()),
        ("load average at start", load()),
    ]
