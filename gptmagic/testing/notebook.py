"""Execute a notebook headless with nbclient, against the local test server by default.

This is the README's "run the quickstart" command: on a machine with no API key and no
network it starts :class:`~gptmagic.testing.server.FakeOpenAI` on 127.0.0.1, executes the
notebook in a real kernel of this Python, and writes the executed copy next to it.

    python -m gptmagic.testing.notebook notebooks/quickstart.ipynb [--real]

With ``--real`` the kernel uses the environment as it is (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``): the same notebook against a real server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .server import FakeOpenAI


@contextlib.contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def this_python_kernel() -> Iterator[str]:
    """A ``python3`` kernelspec that runs this interpreter, whatever else is installed."""
    with tempfile.TemporaryDirectory(prefix="gptmagic-kernels-") as root:
        spec = Path(root, "kernels", "python3")
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec.joinpath("kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"})
        )
        paths = os.pathsep.join(p for p in (root, os.environ.get("JUPYTER_PATH")) if p)
        with patched_environ({"JUPYTER_PATH": paths}):
            yield "python3"


@contextlib.contextmanager
def local_kernel(kernel: str) -> Iterator[Any]:
    """A kernel manager whose kernel talks over Unix sockets in a private temporary folder.

    Over TCP (Windows keeps it) ipykernel warns that code and outputs travel unencrypted,
    which is all a newcomer sees of the README's command; IPC sockets need no port and leave
    nothing behind (the default would put ``kernel-ipc-N`` files in the working folder).
    """
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory(prefix="gptmagic-kernel-") as sockets:
        ipc = {"transport": "ipc", "ip": os.path.join(sockets, "k")} if os.name != "nt" else {}
        km = KernelManager(kernel_name=kernel, **ipc)
        try:
            yield km
        finally:  # nbclient shuts down only the kernels of the managers it made
            if km.has_kernel:
                km.shutdown_kernel()


def execute(
    path: Path, env: dict[str, str], timeout: int = 120, allow_errors: bool = False, **options
):
    """Run every cell of the notebook at ``path``; returns the executed nbformat node.

    ``options`` go to ``NotebookClient`` (e.g. ``on_cell_executed`` to see execute replies).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with this_python_kernel() as kernel, patched_environ(env), local_kernel(kernel) as km:
        client = NotebookClient(
            nb,
            km=km,
            kernel_name=kernel,
            timeout=timeout,
            allow_errors=allow_errors,
            resources={"metadata": {"path": str(path.parent)}},
            **options,
        )
        client.execute()
    return nb


def execute_with_papermill(path: Path, output: Path, env: dict[str, str], timeout: int = 120):
    """Run the notebook at ``path`` with papermill, as ``papermill IN OUT`` would, into
    ``output``; returns the executed node. A failing cell raises papermill's
    ``PapermillExecutionError`` (after the executed notebook is written)."""
    import nbformat
    import papermill

    with this_python_kernel() as kernel, patched_environ(env):
        papermill.execute_notebook(
            str(path),
            str(output),
            kernel_name=kernel,
            cwd=str(path.parent),
            progress_bar=False,
            execution_timeout=timeout,
        )
    return nbformat.read(output, as_version=4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--real", action="store_true", help="use the environment's server/key")
    parser.add_argument("--output", type=Path, help="where to write the executed notebook")
    args = parser.parse_args(argv)
    import nbformat
    from nbclient.exceptions import CellExecutionError

    output = args.output or args.notebook.with_suffix(".executed.ipynb")
    with contextlib.ExitStack() as stack:
        env = {}
        if not args.real:
            server = stack.enter_context(FakeOpenAI(lifetime=600))
            env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local-test-server"}
            print(f"Local test server: {server.base_url}")
        try:
            nb = execute(args.notebook, env)
        except CellExecutionError as failed:  # the cell and its error, not nbclient's insides
            print(f"{args.notebook} stopped at a failing cell (nothing written):", file=sys.stderr)
            print(str(failed).strip(), file=sys.stderr)
            return 1
    nbformat.write(nb, output)
    answers = sum(
        1
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "gptmagic" in out.get("metadata", {}) and "model" in out["metadata"]["gptmagic"]
    )
    answered = f"{answers} answer" + ("" if answers == 1 else "s")
    print(f"Executed {args.notebook}: {len(nb.cells)} cells, {answered} -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
