"""Open a notebook in JupyterLab against the local test server: no key, no network.

This is the README's "try it in JupyterLab" command:

    python -m gptmagic.testing.lab [NOTEBOOK] [--lifetime SECONDS] [--LAB-OPTION=VALUE ...]

It starts :class:`~gptmagic.testing.server.FakeOpenAI` on 127.0.0.1, then this Python's
``jupyter lab NOTEBOOK`` (default ``notebooks/quickstart.ipynb``) on 127.0.0.1, whose kernels
run this Python and get ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` pointing at the server. Both stop
together: when Lab exits, on Ctrl-C, or after ``--lifetime`` seconds (default 4 hours). Other
options (``--no-browser``, ``--ServerApp.port=8888``) go to JupyterLab; give them as
``--name=value``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from .notebook import this_python_kernel
from .server import FakeOpenAI

QUICKSTART = Path("notebooks", "quickstart.ipynb")
LOCAL_KEY = "sk-local-test-server"
INSTALL = ".venv/bin/pip install -e '.[test,lab]'"


def lab_command(notebook: Path, options: list[str]) -> list[str]:
    """JupyterLab from this Python, reachable only from this machine unless an option says
    otherwise (and as root in a container too: Lab refuses root without --allow-root)."""
    command = [sys.executable, "-m", "jupyterlab", *options]
    if not any(option.startswith(("--ip", "--ServerApp.ip")) for option in options):
        command.append("--ServerApp.ip=127.0.0.1")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in options:
        command.append("--allow-root")
    return [*command, notebook.name]


def stop(lab: subprocess.Popen) -> None:
    """Ask Lab to shut down (it stops its kernels); kill it if it has not after 20 s."""
    if lab.poll() is None:
        lab.terminate()
    try:
        lab.wait(timeout=20)
    except subprocess.TimeoutExpired:
        if hasattr(os, "killpg"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(lab.pid, signal.SIGKILL)
        lab.kill()
        lab.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=QUICKSTART)
    parser.add_argument(
        "--lifetime", type=float, default=4 * 3600, help="stop after this many seconds"
    )
    args, lab_options = parser.parse_known_args(argv)
    if importlib.util.find_spec("jupyterlab") is None:
        print(f"JupyterLab is not installed here: {INSTALL}", file=sys.stderr)
        return 1
    notebook = args.notebook.resolve()
    if not notebook.is_file():
        print(
            f"No notebook at {args.notebook}: run this from a gptmagic checkout, or name one.",
            file=sys.stderr,
        )
        return 1
    # The server outlives Lab by a minute, so Lab's kernels never see it vanish first.
    with FakeOpenAI(lifetime=args.lifetime + 60) as server, this_python_kernel():
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": LOCAL_KEY}
        print(f"Local test server: {server.base_url} (stops with JupyterLab)", flush=True)
        # A session of its own: Ctrl-C reaches only this process, which then stops Lab cleanly
        # (Lab's own Ctrl-C handler would wait for a "y" on stdin).
        lab = subprocess.Popen(
            lab_command(notebook, lab_options),
            cwd=notebook.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        for name in ("SIGTERM", "SIGHUP"):  # a kill or a closed terminal stops Lab too
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), _interrupt)
        try:
            lab.wait(timeout=args.lifetime)
        except subprocess.TimeoutExpired:
            print(f"Stopping JupyterLab: --lifetime {args.lifetime:g} s is over.", flush=True)
        except KeyboardInterrupt:
            print("Stopping JupyterLab and the local test server.", flush=True)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan Lab
            stop(lab)
    print("JupyterLab and the local test server have stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
