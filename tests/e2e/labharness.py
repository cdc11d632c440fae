"""Browser end-to-end harness: a real JupyterLab server driven by headless Chromium.

Widgets only prove themselves in a real front end (the kernel-side model and the rendered
view are separate halves), so these helpers start a hermetic, offline JupyterLab and a
Debian Chromium through Playwright. Only the stdlib, playwright and nbformat are used.
(Named labharness, not jupyterlab: a top-level ``jupyterlab`` module would shadow the real
package that the server is started from.)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
INSTALL_HINT = (
    "apt-get update && apt-get install -y chromium; "
    "pip install jupyterlab ipywidgets ipykernel playwright nbformat (never `playwright install`)"
)
# Settings that keep the news/update toast from covering screenshots and from going online.
NOTIFICATION_SETTINGS = ("@jupyterlab/apputils-extension", "notification")
NOTIFICATION_VALUES = {"fetchNews": "false", "checkForUpdates": False}
IDLE_INDICATOR = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
# The indicator above also reads "idle" before any kernel is attached ("No Kernel |
# Initializing"); the status bar reads "<kernel> | Idle" only once the kernel is connected.
STATUS_BAR_TEXT = "#jp-main-statusbar .jp-StatusBar-TextItem"
KERNEL_IDLE_TEXT = re.compile(r"^(?!No Kernel).+ \| Idle$")
RUN_ALL_ITEM = "li.lm-Menu-item[data-command='runmenu:run-all']"


def skip_unless_browser() -> str | None:
    """Return a pytest skip reason when Chromium or Playwright is missing, else None.

    In CI (CI=true) a missing browser must never turn into a silent skip, so it raises instead.
    """
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(CHROMIUM)
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright Python package")
    if not missing:
        return None
    reason = f"browser e2e needs {' and '.join(missing)}; install: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"CI must run the browser tests, but {reason}")
    return reason


def free_port() -> int:
    """Pick a free loopback port; the server gets it with port_retries=0 so a race fails loudly."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_pids(pid: int) -> list[int]:
    """PIDs whose parent is ``pid``, read from /proc (empty where /proc is missing)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                children.append(int(stat.parent.name))
    return children


class JupyterLab:
    """A hermetic JupyterLab server on 127.0.0.1, run as a context manager.

    Config, data, runtime and IPython dirs live in a temp dir so the user's settings and
    extensions cannot change what a test sees; ``extra_env`` reaches the server and therefore
    every kernel it starts (e.g. ``OPENAI_BASE_URL`` pointing at a local fake).
    """

    def __init__(
        self,
        root_dir: str | os.PathLike,
        extra_env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.root_dir = Path(root_dir).resolve()
        self.extra_env = dict(extra_env or {})
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp_dir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self):
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="e2e-jupyterlab-"))
        self.log_path = self.tmp_dir / "server.log"
        try:
            self._start()
            self._wait_ready()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop()

    def _env(self) -> dict[str, str]:
        """Environment with every Jupyter/IPython location pointed into the temp dir."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        for name, sub in [
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("IPYTHONDIR", "ipython"),
        ]:
            env[name] = str(self.tmp_dir / sub)
            Path(env[name]).mkdir(parents=True, exist_ok=True)
        env.update(self.extra_env)
        return env

    def _write_user_settings(self, config_dir: Path) -> None:
        """Turn off the news/update notifications, which cover screenshots and go online."""
        plugin_dir, name = NOTIFICATION_SETTINGS
        settings = config_dir / "lab" / "user-settings" / plugin_dir
        settings.mkdir(parents=True, exist_ok=True)
        (settings / f"{name}.jupyterlab-settings").write_text(json.dumps(NOTIFICATION_VALUES))

    def _command(self) -> list[str]:
        """The server command line: fixed port, random token, offline and quiet."""
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def _start(self) -> None:
        """Spawn the server in its own process group so kernels can be reaped with it."""
        env = self._env()
        self._write_user_settings(Path(env["JUPYTER_CONFIG_DIR"]))
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the fd
            self._proc = subprocess.Popen(
                self._command(),
                cwd=self.root_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        """Poll /api/status until the server answers; fail with the log tail if it never does."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                self.api("GET", "/api/status", timeout=2)
                return
            time.sleep(0.25)
        raise RuntimeError(f"JupyterLab not ready in {self.startup_timeout}s:\n{self.log_tail()}")

    def _stop(self) -> None:
        """Ask the server to shut down (it stops its kernels), then reap it by process group."""
        if self._proc is not None:
            if self._proc.poll() is None:
                with contextlib.suppress(OSError):
                    self.api("POST", "/api/shutdown", timeout=5)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._kill()
            self._proc = None
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _kill(self) -> None:
        """Last resort, by PID only: the server's process group, then its kernels.

        jupyter_client starts each kernel in a session of its own, so killing the server's
        group alone would orphan them; they are found as the server's children in /proc.
        """
        kernels = child_pids(self._proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        for pid in kernels:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._proc.wait(timeout=10)

    def api(self, method: str, path: str, body: object = None, timeout: float = 10):
        """Call the server's REST API with the token; return the decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def lab_url(self, path: str) -> str:
        """Browser URL that opens ``path`` (relative to root_dir) and logs in with the token."""
        quoted = urllib.parse.quote(str(path))
        return f"{self.url}/lab/tree/{quoted}?token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        """Last part of the server log, for failure messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]


def write_notebook(path: str | os.PathLike, sources: list[str]) -> Path:
    """Write a Python 3 notebook of code cells; the kernelspec avoids a kernel-picker dialog."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path = Path(path)
    nbformat.write(notebook, path)
    return path


@contextlib.contextmanager
def browser(tmp_path: str | os.PathLike):
    """Yield a Playwright page in Debian's Chromium with a throwaway profile under tmp_path.

    Playwright's own browser download is not possible here, hence executable_path; the
    profile is passed as launch_persistent_context's first argument because Playwright
    rejects --user-data-dir in args.
    """
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
            )
            try:
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def notebook_in_lab(tmp_path: str | os.PathLike, name: str, cells: list[str]):
    """Yield ``(server, lab, page)``: a notebook of ``cells`` open in a JupyterLab whose kernels
    talk to a fresh local OpenAI-compatible server (queue its replies before running cells)."""
    from gptmagic.testing.server import FakeOpenAI

    root = Path(tmp_path) / "notebooks"
    root.mkdir()
    write_notebook(root / name, cells)
    key = "sk-test-LAB-" + secrets.token_hex(8)
    with FakeOpenAI(api_key=key, lifetime=300) as server:
        env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": server.base_url, "NO_PROXY": "127.0.0.1"}
        with JupyterLab(root, extra_env=env) as lab, browser(tmp_path) as page:
            open_notebook(page, lab, name)
            yield server, lab, page


def open_notebook(page, lab: JupyterLab, path: str, timeout: float = 60.0) -> None:
    """Open a notebook in Lab and wait until its kernel is connected and idle.

    Cells run before the kernel connects are silently dropped, so the toolbar indicator alone
    (idle from the start) is not enough: the status bar must name the kernel and say Idle.
    """
    page.goto(lab.lab_url(path))
    kernel_status = page.locator(STATUS_BAR_TEXT, has_text=KERNEL_IDLE_TEXT)
    kernel_status.wait_for(timeout=timeout * 1000)
    page.wait_for_selector(IDLE_INDICATOR, timeout=timeout * 1000)


def cell(page, index: int):
    """Locator for the index-th notebook cell."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def run_cell(page, index: int) -> None:
    """Run one cell in place: Ctrl+Enter, since Shift+Enter on the last cell adds a cell."""
    cell(page, index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")


def run_all(page) -> None:
    """Run every cell through the Run menu, as a person would."""
    page.locator("li.lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(RUN_ALL_ITEM).click()


def wait_kernel_idle(lab: JupyterLab, timeout: float = 60.0, settle: float = 0.5) -> list:
    """Wait until every kernel in /api/sessions is idle, and stays idle for ``settle`` seconds.

    A kernel goes briefly idle between queued cells, so a single idle reading is not enough.
    Returns the sessions seen last.
    """
    deadline = time.monotonic() + timeout
    idle_since, states = None, []
    while time.monotonic() < deadline:
        sessions = lab.api("GET", "/api/sessions")
        states = [s.get("kernel", {}).get("execution_state") for s in sessions]
        if states and all(state == "idle" for state in states):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:
                return sessions
        else:
            idle_since = None
        time.sleep(0.1)
    raise TimeoutError(f"kernels not idle after {timeout}s: {states}")


def screenshot(page, path: str | os.PathLike) -> Path:
    """Save a PNG of the page (creating its folder) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path
