"""A real ipykernel driven over ZMQ with jupyter_client, seen as a frontend sees it.

Every iopub message of an execution is kept with the ``time.monotonic()`` of its arrival.
On Linux that clock is CLOCK_MONOTONIC, one system-wide clock, so arrival times compare
with timestamps taken in the kernel and in the test server's process.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

DISPLAY_TYPES = {"display_data", "update_display_data", "execute_result", "clear_output", "stream"}


def shown(message: dict[str, Any]) -> str:
    """The text a display message shows: its Markdown and plain text, or printed text."""
    content = message["content"]
    data = content.get("data", {})
    return data.get("text/markdown", "") + data.get("text/plain", "") + content.get("text", "")


class ExecutionError(RuntimeError):
    """A benchmark cell failed: the numbers would be meaningless."""


@dataclass
class Execution:
    """One executed cell: its reply and its iopub messages with their arrival times."""

    reply: dict[str, Any]
    sent: float
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    @property
    def wall(self) -> float:
        """Seconds from sending the request to the kernel going idle."""
        return self.messages[-1][0] - self.sent

    def expression(self, name: str) -> str:
        """The ``text/plain`` value of a user expression sent with the request."""
        result = self.reply["content"]["user_expressions"][name]
        if result["status"] != "ok":
            raise ExecutionError(f"{name}: {result.get('ename')}: {result.get('evalue')}")
        return result["data"]["text/plain"]

    def displays(self) -> list[tuple[float, dict[str, Any]]]:
        """The messages a frontend would draw (outputs, updates, clears, printed text)."""
        return [(t, m) for t, m in self.messages if m["msg_type"] in DISPLAY_TYPES]

    def iopub_bytes(self) -> int:
        """Size of every iopub message's content, as JSON."""
        return sum(len(json.dumps(m["content"])) for _, m in self.messages)

    def first_display_containing(self, text: str) -> float:
        """Arrival time of the first display message that shows ``text``."""
        for arrived, message in self.displays():
            if text in shown(message):
                return arrived
        raise ExecutionError(f"no display message showed {text!r}")

    def final_text(self) -> str:
        """What the last display message shows: the cell's answer once it is done."""
        displays = self.displays()
        return shown(displays[-1][1]) if displays else ""


class Kernel:
    """A fresh kernel of ``python`` with environment ``env``; its files live in ``scratch``."""

    def __init__(self, python: str, env: dict[str, str], scratch: Path, name: str = "bench"):
        self.python, self.env, self.scratch, self.name = python, env, scratch, name
        self.manager: KernelManager | None = None
        self.client: Any = None

    def __enter__(self) -> Kernel:
        specs = self.scratch / "kernels"
        spec = specs / self.name / "kernel.json"
        spec.parent.mkdir(parents=True, exist_ok=True)
        argv = [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec.write_text(json.dumps({"argv": argv, "display_name": self.name, "language": "python"}))
        self.manager = KernelManager(
            kernel_name=self.name,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)]),
            connection_file=str(self.scratch / f"{self.name}-{time.monotonic_ns()}.json"),
        )
        self.manager.start_kernel(env=self.env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.client is not None:
            self.client.stop_channels()
        if self.manager is not None:
            self.manager.shutdown_kernel(now=True)
            self.manager.cleanup_resources()

    def execute(
        self, code: str, expressions: dict[str, str] | None = None, timeout: float = 600
    ) -> Execution:
        """Run ``code`` like a notebook cell; raise if it fails."""
        sent = time.monotonic()
        msg_id = self.client.execute(
            code, store_history=True, user_expressions=expressions or {}, allow_stdin=False
        )
        messages = []
        while True:
            message = self.client.get_iopub_msg(timeout=timeout)
            arrived = time.monotonic()
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append((arrived, message))
            content = message["content"]
            if message["msg_type"] == "status" and content["execution_state"] == "idle":
                break
        reply = self._reply(msg_id, timeout)
        if reply["content"]["status"] != "ok":
            content = reply["content"]
            raise ExecutionError(f"{code[:60]!r}: {content.get('ename')}: {content.get('evalue')}")
        return Execution(reply, sent, messages)

    def _reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        while True:
            reply = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
