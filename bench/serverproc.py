"""The local OpenAI-compatible server in a process of its own, as a real API would be.

Out of the benchmark's process its CPU and GIL never leak into what is measured. Replies are
scripted, and the time the first SSE event left it is read, over its ``/_control`` endpoints.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

KEY = "sk-bench-local-fake-key"  # the fake server's own key: not a secret, not a real key
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerProcess:
    """``python -m gptmagic.testing.server`` on 127.0.0.1, stopped (by its PID) on exit."""

    def __init__(self, lifetime: float):
        self.lifetime = lifetime
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        command = [sys.executable, "-m", "gptmagic.testing.server", "--api-key", KEY]
        command += ["--lifetime", str(self.lifetime)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith("GPTMAGIC_TEST_SERVER "):
                self.url = line.split()[1].removesuffix("/v1")
                return self
        raise RuntimeError("the test server exited before it printed its address")

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _call(self, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data)
        with _NO_PROXY.open(request, timeout=30) as response:
            return json.load(response)

    def enqueue(self, **reply: Any) -> None:
        """Script the next chat answer (the fields of ``gptmagic.testing.server.Reply``)."""
        self._call("/_control/enqueue", [reply])

    def reset(self) -> None:
        """Forget recorded requests, so that reading them stays cheap."""
        self._call("/_control/reset", {})

    def last_first_byte(self, path: str = "/v1/chat/completions") -> float:
        """``time.monotonic()`` at which the last stream's first event (of a request to
        ``path``) was written."""
        recorded = self._call("/_control/requests")
        return [r for r in recorded if r["path"] == path][-1]["first_byte"]
