"""Fixtures: the local OpenAI-compatible server and a real IPython shell.

``outputs`` applies the same rules to display messages as a notebook frontend (and nbclient)
does: ``update_display`` replaces the output with that display id, and
``clear_output(wait=True)`` empties the cell when the next output arrives. So tests see what a
saved notebook would hold, and count every message the frontend would receive.
"""

from __future__ import annotations

import atexit
import json
import signal
import threading

import pytest
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from gptmagic.testing.server import FakeOpenAI

# A shell starts a background job (`cmd &`) with SIGINT ignored, and Python then installs no
# KeyboardInterrupt handler: the interrupt tests (interrupt_when) would wait and fail.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

KEY = "sk-test-DISTINCTIVE-9f8e7d6c5b4a"
AZURE_API_VERSION = "2025-04-01-preview"


class NotebookOutputs(DisplayPublisher):
    """A display publisher with a notebook's output semantics."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.outputs: list[dict] = []
        self.messages: list[dict] = []
        self._clear_pending = False
        self._watches: list[tuple[str, threading.Event]] = []

    def when_shown(self, text: str) -> threading.Event:
        """An event set once a published Markdown output contains ``text``."""
        event = threading.Event()
        self._watches.append((text, event))
        return event

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False):
        message = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
        self.messages.append({**message, "update": update})
        for text, event in self._watches:
            if text in data.get("text/markdown", ""):
                event.set()
        display_id = (transient or {}).get("display_id")
        if update:
            for output in self.outputs:
                if display_id and output["transient"].get("display_id") == display_id:
                    output.update(data=data, metadata=metadata or {})
            return
        if self._clear_pending:
            self.outputs.clear()
            self._clear_pending = False
        self.outputs.append(message)

    def clear_output(self, wait=False):
        self.messages.append({"clear_output": True, "wait": wait})
        if wait:
            self._clear_pending = True
        else:
            self.outputs.clear()

    def bytes_sent(self) -> int:
        return sum(len(json.dumps(m)) for m in self.messages)

    def markdown(self) -> list[str]:
        return [o["data"].get("text/markdown", "") for o in self.outputs]


@pytest.fixture(autouse=True)
def no_replay_cache_from_the_environment(monkeypatch):
    """A developer's GPTMAGIC_CACHE / GPTMAGIC_CACHE_MODE must not reach the tests' kernels."""
    monkeypatch.delenv("GPTMAGIC_CACHE", raising=False)
    monkeypatch.delenv("GPTMAGIC_CACHE_MODE", raising=False)


@pytest.fixture
def server():
    with FakeOpenAI(api_key=KEY, lifetime=120) as fake:
        yield fake


@pytest.fixture
def env(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return server


def make_shell(config: Config | None = None) -> InteractiveShell:
    """A fresh ``InteractiveShell`` whose history lives in memory (no saving thread).

    IPython's history thread only stops at interpreter exit; a thread per test made the suite
    sit silent for minutes after its last test. Pair every call with :func:`dispose_shell`.
    """
    InteractiveShell.clear_instance()
    config = config or Config()
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)


def dispose_shell(ip: InteractiveShell) -> None:
    """Unload gptmagic, close the shell's history and forget the singleton now.

    Each shell registers ``atexit_operations`` (a ``gc.collect()`` per shell): left to run at
    exit for hundreds of shells, they kept the finished suite busy for minutes.
    """
    if "gptmagic" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "gptmagic")
    atexit.unregister(ip.atexit_operations)
    ip.history_manager.end_session()
    ip.history_manager.db.close()
    InteractiveShell.clear_instance()


@pytest.fixture
def shell(env):
    """A fresh IPython shell with gptmagic loaded, talking to the local server."""
    ip = make_shell()
    ip.display_pub = NotebookOutputs(shell=ip)
    ip.run_line_magic("load_ext", "gptmagic")
    ip.run_line_magic("config", "GPTMagic.display = 'markdown'")
    ip.run_line_magic("config", "GPTMagic.max_retries = 0")
    yield ip
    dispose_shell(ip)


@pytest.fixture
def outputs(shell) -> NotebookOutputs:
    return shell.display_pub


@pytest.fixture
def azure_shell(shell, server, monkeypatch):
    """An Azure user's environment, pointing at the local server's Azure paths."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("OPENAI_API_VERSION", AZURE_API_VERSION)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    run(shell, "%config GPTMagic.provider = 'azure'")
    return shell


def run(shell, source: str):
    """Run a cell like a notebook does; returns IPython's ExecutionResult."""
    return shell.run_cell(source, store_history=True)


def interrupt_when(*events: threading.Event, timeout: float = 20) -> threading.Thread:
    """Interrupt the main thread like Ctrl-C or a kernel interrupt once every event is set.

    SIGINT to the main thread (not ``_thread.interrupt_main``) also breaks a blocking socket
    read, as a real interrupt does. If an event never comes, nothing is sent.
    """
    main = threading.main_thread().ident
    test_over = _TEST_OVER[-1]

    def fire() -> None:
        if all(event.wait(timeout) for event in events) and not test_over.is_set():
            signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=fire, name="interrupt_when", daemon=True)
    thread.start()
    return thread


_TEST_OVER = [threading.Event()]


@pytest.fixture(autouse=True)
def no_interrupt_outlives_its_test():
    """An ``interrupt_when`` whose events come late (a loaded machine) never sends its SIGINT
    into the next test: that test would fail for a reason of another's."""
    _TEST_OVER.append(threading.Event())
    yield
    _TEST_OVER[-1].set()
