"""API traffic goes through an HTTP proxy: the GPTMagic.proxy trait or HTTP(S)_PROXY."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.conftest import run


class ForwardProxy(ThreadingHTTPServer):
    """A minimal forward proxy on 127.0.0.1 that records the URLs it relayed."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Relay)
        self.seen: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Relay(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _relay(self):
        self.server.seen.append(self.path)
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream.request(self.command, target.path, body=body or None, headers=headers)
        response = upstream.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _relay


@pytest.fixture
def proxy():
    server = ForwardProxy()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_proxy_setting_routes_chat_through_the_proxy(shell, server, proxy, outputs):
    run(shell, f"%config GPTMagic.proxy = '{proxy.url}'")
    assert run(shell, "%%gpt\nhello via proxy").success
    assert proxy.seen == [f"{server.base_url}/chat/completions"]
    assert "hello via proxy" in outputs.markdown()[-1]


def test_the_environment_proxy_is_used_when_no_setting_is_given(shell, server, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "")
    assert run(shell, "%gpt models").success
    assert proxy.seen == [f"{server.base_url}/models"]
