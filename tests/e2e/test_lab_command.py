"""The README's JupyterLab command: `python -m gptmagic.testing.lab` opens the quickstart in
Lab against the local test server, and stops Lab, its kernels and the server together.

No browser: Lab's REST API starts a kernel and its websocket runs a %%gpt cell in it, as the
quickstart's first cells do. A few seconds per test (JupyterLab starts twice).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import labharness as harness
import pytest

pytest.importorskip("jupyterlab")
websocket = pytest.importorskip("websocket")  # websocket-client, a jupyter_server dependency

ROOT = Path(__file__).resolve().parents[2]
SERVER_LINE = re.compile(r"Local test server: (http://127\.0\.0\.1:\d+/v1)")


class LabCommand(harness.JupyterLab):
    """`python -m gptmagic.testing.lab` in the harness's hermetic Jupyter environment: the
    harness's Lab options (port, token, offline) are passed through the command to Lab."""

    def _command(self) -> list[str]:
        lab_options = super()._command()[3:]  # after [python, -m, jupyterlab]
        command = [sys.executable, "-m", "gptmagic.testing.lab", "quickstart.ipynb"]
        return [*command, "--lifetime=180", *lab_options]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in super()._env().items() if not k.startswith("OPENAI")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    @property
    def process(self) -> subprocess.Popen:
        return self._proc

    def server_url(self) -> str:
        """The base URL of the local test server, as the command printed it."""
        found = SERVER_LINE.search(self.log_tail(chars=10**6))
        assert found, self.log_tail()
        return found[1]

    def execute(self, kernel_id: str, code: str, timeout: float = 60.0) -> list[dict]:
        """Run ``code`` in a Lab kernel over its websocket, as a notebook cell; the messages
        it produced."""
        socket = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/api/kernels/{kernel_id}/channels?token={self.token}",
            timeout=timeout,
        )
        msg_id = uuid.uuid4().hex
        request = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "username": "test",
                "session": uuid.uuid4().hex,
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {"cellId": uuid.uuid4().hex},  # as Lab's notebook sends it
            "content": {"code": code, "silent": False, "store_history": True},
            "channel": "shell",
            "buffers": [],
        }
        socket.send(json.dumps(request))
        messages = []
        try:
            while True:
                message = json.loads(socket.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                messages.append(message)
                if message["msg_type"] == "status" and (
                    message["content"]["execution_state"] == "idle"
                ):
                    return messages
        finally:
            socket.close()


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def refuses(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return False  # something answered
    except OSError:
        return True
    return False


def texts(messages: list[dict]) -> str:
    parts = []
    for message in messages:
        content = message["content"]
        parts.append(content.get("text", ""))
        parts.append(content.get("data", {}).get("text/plain", ""))
        parts.append(content.get("evalue", ""))
    return "\n".join(parts)


@pytest.fixture
def lab(tmp_path):
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", root)
    with LabCommand(root, startup_timeout=90) as command:  # stops what a failed test left
        yield command


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc")
def test_lab_kernels_chat_with_the_local_server_and_ctrl_c_stops_everything(lab):
    base_url = lab.server_url()
    lab_pids = harness.child_pids(lab.process.pid)
    assert len(lab_pids) == 1
    kernel = lab.api("POST", "/api/kernels", {"name": "python3"})
    code = (
        "import os, sys\n"
        "print(os.environ['OPENAI_BASE_URL'], sys.executable)\n"
        "%load_ext gptmagic\n"
        "get_ipython().run_cell_magic('gpt', '', 'Hello from JupyterLab')"
    )
    messages = lab.execute(kernel["id"], code)
    shown = texts(messages)
    assert f"{base_url} {sys.executable}" in shown  # the server's address, this Python
    assert "Answer 1 from gpt-4o-mini: you said *Hello from JupyterLab*" in shown
    assert not [m for m in messages if m["msg_type"] == "error"], shown
    served = json.load(urllib.request.urlopen(base_url.removesuffix("/v1") + "/_control/requests"))
    assert [r["path"] for r in served] == ["/v1/chat/completions"]
    kernel_pids = harness.child_pids(lab_pids[0])
    assert kernel_pids

    lab.process.send_signal(signal.SIGINT)  # Ctrl-C, by PID
    assert lab.process.wait(timeout=40) == 0
    assert refuses(base_url + "/models"), "the local test server still answers"
    assert refuses(lab.url + "/api/status"), "JupyterLab still answers"
    assert not [pid for pid in [*lab_pids, *kernel_pids] if alive(pid)]
    assert "JupyterLab and the local test server have stopped." in lab.log_tail()


def test_when_lab_shuts_down_the_command_stops_the_server_and_exits(lab):
    base_url = lab.server_url()
    assert not refuses(base_url + "/models")
    lab.api("POST", "/api/shutdown")  # File > Shut Down in Lab
    assert lab.process.wait(timeout=40) == 0
    assert refuses(base_url + "/models"), "the local test server still answers"
