"""API traffic goes through an HTTP proxy: the GPTMagic.proxy trait or HTTP(S)_PROXY."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.conftest import KEY, run
from tests.test_reliability import closed_port, error_line


class ForwardProxy(ThreadingHTTPServer):
    """A minimal forward proxy on 127.0.0.1 that records the URLs it relayed."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        """An unreachable upstream drops the client's connection; no traceback on stderr."""

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
        path = f"{target.path}?{target.query}" if target.query else target.path
        upstream.request(self.command, path, body=body or None, headers=headers)
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


# -- a proxy that fails is named, with the setting it came from -------------------------------
PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.setenv(name, "")  # recorded, so a %env in the test is undone too
        monkeypatch.delenv(name)
    return monkeypatch


def test_a_dead_proxy_setting_is_named_not_the_server(shell, server, capsys, no_proxy_env):
    port = closed_port()
    run(shell, f"%config GPTMagic.proxy = 'http://127.0.0.1:{port}'")
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert f"Could not connect to the proxy 127.0.0.1:{port} (set by GPTMagic.proxy)" in line
    assert "unset GPTMagic.proxy" in line
    assert server.url.removeprefix("http://") not in line  # the healthy server is not blamed
    assert server.chat_requests == []


def test_a_proxys_credentials_are_never_shown(shell, capsys, no_proxy_env):
    port = closed_port()
    run(shell, f"%config GPTMagic.proxy = 'http://alice:s3cret-pw@127.0.0.1:{port}'")
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert f"the proxy 127.0.0.1:{port} " in line
    assert "alice" not in line and "s3cret" not in line


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_a_dead_environment_proxy_names_its_variable(shell, capsys, no_proxy_env, variable):
    port = closed_port()
    no_proxy_env.setenv(variable, f"http://127.0.0.1:{port}")
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert f"the proxy 127.0.0.1:{port} (set by {variable})" in line
    assert f"unset {variable}" in line


def test_the_lowercase_variable_wins_as_for_the_http_library(shell, capsys, no_proxy_env):
    upper, lower = closed_port(), closed_port()
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{upper}")
    no_proxy_env.setenv("http_proxy", f"http://127.0.0.1:{lower}")
    run(shell, "%%gpt\nhello")
    assert f"the proxy 127.0.0.1:{lower} (set by http_proxy)" in error_line(capsys)


def test_a_proxy_for_the_other_scheme_is_not_blamed(shell, capsys, no_proxy_env):
    """The server speaks http, so HTTPS_PROXY is not used: the server itself is unreachable."""
    port = closed_port()
    no_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    run(shell, f"%config GPTMagic.base_url = 'http://127.0.0.1:{port}/v1'")
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert f"Could not reach 127.0.0.1:{port}" in line and "set by" not in line


def test_a_host_exempted_by_no_proxy_is_named_itself(shell, capsys, no_proxy_env):
    port = closed_port()
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    run(shell, f"%config GPTMagic.base_url = 'http://127.0.0.1:{port}/v1'")
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert f"Could not reach 127.0.0.1:{port}" in line and "set by" not in line


def test_a_live_proxy_with_a_dead_server_names_both(shell, proxy, capsys, no_proxy_env):
    port = closed_port()
    run(shell, f"%config GPTMagic.proxy = '{proxy.url}'")
    run(shell, f"%config GPTMagic.base_url = 'http://127.0.0.1:{port}/v1'")
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    via = f"the proxy {proxy.url.removeprefix('http://')} (set by GPTMagic.proxy)"
    assert f"Could not reach 127.0.0.1:{port} through {via}" in line
    assert proxy.seen == [f"http://127.0.0.1:{port}/v1/chat/completions"]


def test_a_proxy_set_with_env_in_the_kernel_is_used_from_the_next_cell(
    shell, server, proxy, capsys, no_proxy_env
):
    assert run(shell, "%%gpt\nhello directly").success
    run(shell, f"%env HTTP_PROXY={proxy.url}")
    assert run(shell, "%%gpt\nhello via proxy").success
    assert proxy.seen == [f"{server.base_url}/chat/completions"]
    port = closed_port()
    run(shell, f"%env HTTP_PROXY=http://127.0.0.1:{port}")
    assert not run(shell, "%%gpt\nhello via a dead proxy").success
    assert f"the proxy 127.0.0.1:{port} (set by HTTP_PROXY)" in error_line(capsys)
    assert len(server.chat_requests) == 2


def test_the_proxy_setting_routes_azure_through_the_proxy(shell, server, proxy, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    run(shell, "%config GPTMagic.provider = 'azure'")
    run(shell, f"%config GPTMagic.proxy = '{proxy.url}'")
    assert run(shell, "%%gpt -m gpt-4o\nhello via proxy").success
    path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    assert proxy.seen == [f"{server.url}{path}"]
