"""A base URL may carry credentials (``http://user:password@gateway/v1``): they are used for
the connection and shown nowhere, neither in the dry run nor in what a notebook keeps."""

from __future__ import annotations

import json

import pytest

from gptmagic.client import Endpoint, public_url
from gptmagic.session import session_for
from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import run

USER, PASSWORD = "alice-gateway-user", "hunter2-gateway-pw"


def test_public_url_drops_only_the_userinfo():
    assert public_url(f"http://{USER}:{PASSWORD}@gw.example:8443/v1?x=1") == (
        "http://gw.example:8443/v1?x=1"
    )
    assert public_url(f"https://{USER}@[::1]:8000/v1") == "https://[::1]:8000/v1"
    assert public_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert public_url(f"{USER}:{PASSWORD}@gw.example/v1") == "gw.example/v1"  # no scheme


def test_a_malformed_port_is_shown_without_credentials_not_a_crash():
    endpoint = Endpoint(f"http://{USER}:{PASSWORD}@gw.example:port/v1", None, 60)
    assert (endpoint.host, endpoint.public_url) == ("gw.example:port", "http://gw.example:port/v1")


def test_credentials_in_the_base_url_are_never_shown_or_kept(shell, outputs, tmp_path, capsys):
    cache = tmp_path / "answers.gptcache.jsonl"
    with FakeOpenAI(lifetime=120) as gateway:  # accepts any Authorization (here Basic)
        port = gateway.base_url.rsplit(":", 1)[1].split("/")[0]
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/v1"
        run(shell, f"%config GPTMagic.base_url = {url!r}")
        run(shell, f"%config GPTMagic.cache = {str(cache)!r}")
        dry_run = run(shell, "%%gpt --dry-run\nhello")
        shown = outputs.outputs[-1]["data"]
        assert f"POST http://127.0.0.1:{port}/v1/chat/completions" in shown["text/markdown"]
        assert run(shell, "%%gpt\nhello").success
        gateway.enqueue(Reply(status=500))
        assert not run(shell, "%%gpt\nthis one fails").success
        for command in ("%gpt", "%gpt history", "%gpt models", "%gpt usage"):
            assert run(shell, command).success, command
        for suffix in (".json", ".md", ".ipynb"):
            assert run(shell, f"%gpt save {tmp_path / ('chat' + suffix)}").success
    assert dry_run.success and len(gateway.chat_requests) == 2
    assert gateway.requests[0].headers["authorization"].startswith("Basic ")  # it was used
    printed = capsys.readouterr()
    kept = [json.dumps(outputs.messages), printed.out, printed.err]
    kept += [path.read_text(encoding="utf-8") for path in tmp_path.iterdir()]
    assert len(kept) == 3 + 4  # the cache and three exports
    for text in kept:
        assert USER not in text and PASSWORD not in text
    assert json.loads(cache.read_text().splitlines()[0])["host"] == f"127.0.0.1:{port}"


# -- a URL's password is a secret like the key: masked in prompts, answers, what is kept -------
PROXY_USER, PROXY_PASSWORD = "proxyuser-7f3a", "hunter2secret"
PROXY = f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy.invalid:3128"  # https only: not used here
SETTINGS = "import os; cfg = {'proxy': os.environ['HTTPS_PROXY']}"  # what a user pastes


@pytest.mark.parametrize(
    "written, echoed",
    [(PROXY_PASSWORD, PROXY_PASSWORD), ("pa%24%24-w0rd%2Fx", "pa$$-w0rd/x")],
    ids=["plain", "percent-encoded"],
)
def test_a_proxy_password_from_https_proxy_is_not_sent_in_a_prompt(
    shell, server, monkeypatch, written, echoed
):
    monkeypatch.setenv("HTTPS_PROXY", PROXY.replace(PROXY_PASSWORD, written))
    run(shell, "import os, urllib.parse; url = os.environ['HTTPS_PROXY']")
    run(shell, "cfg = {'proxy': url, 'decoded': urllib.parse.unquote(url)}")
    assert run(shell, "%%gpt\nmy settings: {cfg}").success
    body = json.dumps(server.chat_requests[-1].body)
    assert written not in body and echoed not in body
    assert body.count(f"{PROXY_USER}:***@proxy.invalid") == 2  # as written, and decoded


def test_a_proxy_password_from_https_proxy_is_not_shown_in_the_dry_run(
    shell, server, outputs, monkeypatch
):
    monkeypatch.setenv("https_proxy", PROXY)  # lowercase, as the HTTP library also reads it
    run(shell, "import os; cfg = {'proxy': os.environ['https_proxy']}")
    assert run(shell, "%%gpt --dry-run\nmy settings: {cfg}").success
    shown = outputs.outputs[-1]["data"]["text/markdown"]
    assert PROXY_PASSWORD not in shown and ":***@proxy.invalid" in shown
    assert server.chat_requests == []


def test_a_password_in_the_proxy_setting_is_not_shown_in_the_dry_run(shell, outputs):
    proxy = PROXY.replace("proxy.invalid", "127.0.0.1")  # the dry run connects nowhere
    run(shell, f"%config GPTMagic.proxy = {proxy!r}")
    run(shell, f"cfg = {{'proxy': {proxy!r}}}")
    assert run(shell, "%%gpt --dry-run\nmy settings: {cfg}").success
    shown = outputs.outputs[-1]["data"]["text/markdown"]
    assert PROXY_PASSWORD not in shown and ":***@127.0.0.1:3128" in shown


def test_a_base_url_password_echoed_in_an_answer_is_masked_live_and_in_what_is_kept(
    shell, outputs, tmp_path
):
    cache = tmp_path / "answers.gptcache.jsonl"
    pieces = ["Your gateway password is hunt", "er2-gate", "way-pw, as configured. Words to show."]
    with FakeOpenAI(lifetime=120) as gateway:  # accepts the Basic auth the URL's user sends
        port = gateway.base_url.rsplit(":", 1)[1].split("/")[0]
        run(shell, f"%config GPTMagic.base_url = 'http://{USER}:{PASSWORD}@127.0.0.1:{port}/v1'")
        run(shell, f"%config GPTMagic.cache = {str(cache)!r}")
        gateway.enqueue(Reply(text=pieces, chunk_delay=0.13))  # > MIN_INTERVAL: live updates
        assert run(shell, "%%gpt -o answer\nWhat is my gateway password?").success
    live = [m["data"].get("text/markdown", "") for m in outputs.messages if "data" in m]
    assert len(live) >= 3 and not any(PASSWORD[:4] in text for text in live)
    expected = "Your gateway password is ***, as configured. Words to show."
    assert shell.user_ns["answer"] == expected
    assert session_for(shell).conversation.turns[-1].assistant.content == expected
    assert PASSWORD not in cache.read_text() and expected in cache.read_text()


def test_a_user_name_in_a_proxy_url_is_not_masked(shell, server, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    run(shell, SETTINGS)
    assert run(shell, "%%gpt\n{cfg}").success
    sent = server.chat_requests[-1].body["messages"][-1]["content"]
    assert sent == f"{{'proxy': 'http://{PROXY_USER}:***@proxy.invalid:3128'}}"


def test_a_proxy_url_without_a_password_is_sent_as_written(shell, server, monkeypatch):
    for url in (f"http://{PROXY_PASSWORD}@proxy.invalid:3128", "http://proxy.invalid:3128"):
        monkeypatch.setenv("HTTPS_PROXY", url)  # a user name only (however secret it looks)
        run(shell, SETTINGS)
        assert run(shell, "%%gpt --new\n{cfg}").success
        assert server.chat_requests[-1].body["messages"][-1]["content"] == f"{{'proxy': {url!r}}}"


def test_config_listing_shows_base_url_and_proxy_without_their_passwords(shell, capsys):
    run(shell, f"%config GPTMagic.base_url = 'http://{USER}:{PASSWORD}@gw.example:8443/v1'")
    run(shell, "%config GPTMagic.proxy = 'http://proxyuser:proxy-pw-2024@127.0.0.1:3128'")
    assert run(shell, "%config GPTMagic").success
    listing = capsys.readouterr().out
    assert "Current: 'http://***@gw.example:8443/v1'" in listing
    assert "Current: 'http://***@127.0.0.1:3128'" in listing
    assert PASSWORD not in listing and "proxy-pw-2024" not in listing
    assert "Current: 'gpt-4o-mini'" in listing  # the other traits are listed as before


@pytest.mark.parametrize("setting", ["base_url", "proxy"])
def test_asking_config_for_the_url_returns_it_but_shows_it_without_the_password(
    shell, capsys, setting
):
    """``%config GPTMagic.proxy`` alone is the cell's value: a notebook saves its display
    (``Out[n]``), so that is masked; the value itself is the URL as set, for code to use."""
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:3128/v1"
    run(shell, f"%config GPTMagic.{setting} = {url!r}")
    result = run(shell, f"%config GPTMagic.{setting}")
    assert result.success and result.result == url
    data, _ = shell.display_formatter.format(result.result)
    assert data == {"text/plain": "'http://***@127.0.0.1:3128/v1'"}
    assert "Out[2]: 'http://***@127.0.0.1:3128/v1'" in capsys.readouterr().out
    run(shell, f"%config GPTMagic.{setting} = 'http://127.0.0.1:3128/v1'")  # none to hide
    data, _ = shell.display_formatter.format(run(shell, f"%config GPTMagic.{setting}").result)
    assert data == {"text/plain": "'http://127.0.0.1:3128/v1'"}


def test_a_refused_base_url_password_is_named_not_the_key(shell, server):
    """The URL's credentials go as Basic auth in place of the key: a 401 refuses them, and
    telling the user to set OPENAI_API_KEY (which was never sent) would mislead."""
    port = server.base_url.rsplit(":", 1)[1].split("/")[0]
    run(shell, f"%config GPTMagic.base_url = 'http://{USER}:{PASSWORD}@127.0.0.1:{port}/v1'")
    line = (
        f"127.0.0.1:{port} rejected the user name and password in the base URL (401): they are "
        "sent as Basic auth, in place of the API key. Check them in GPTMagic.base_url / "
        "OPENAI_BASE_URL, or take them out to send the key."
    )
    for cell in ("%%gpt\nhello", "%gpt models"):
        result = run(shell, cell)
        assert str(result.error_in_exec) == line, cell
    assert [r.headers["authorization"][:6] for r in server.requests] == ["Basic "] * 2


def test_a_proxy_password_from_all_proxy_is_not_shown_in_the_dry_run(shell, outputs, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", PROXY)
    run(shell, "import os; cfg = {'proxy': os.environ['ALL_PROXY']}")
    assert run(shell, "%%gpt --dry-run\nmy settings: {cfg}").success
    shown = outputs.outputs[-1]["data"]["text/markdown"]
    assert PROXY_PASSWORD not in shown and f"{PROXY_USER}:***@proxy.invalid" in shown


def test_the_password_of_a_proxy_written_without_a_scheme_is_not_shown(shell, outputs, monkeypatch):
    """``user:password@proxy:3128`` (no ``http://``) is how many set HTTPS_PROXY by hand."""
    bare = PROXY.removeprefix("http://")
    monkeypatch.setenv("HTTPS_PROXY", bare)
    run(shell, "import os; cfg = {'proxy': os.environ['HTTPS_PROXY']}")
    assert run(shell, "%%gpt --dry-run\nmy settings: {cfg}").success
    shown = outputs.outputs[-1]["data"]["text/markdown"]
    assert PROXY_PASSWORD not in shown and f"{PROXY_USER}:***@proxy.invalid" in shown


def test_a_base_url_password_stays_masked_after_the_setting_changes(shell, server):
    """Moving to another server does not make the old gateway's password less secret."""
    with FakeOpenAI(lifetime=120) as gateway:  # accepts the Basic auth the URL's user sends
        port = gateway.base_url.rsplit(":", 1)[1].split("/")[0]
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/v1"
        run(shell, f"%config GPTMagic.base_url = {url!r}")
        assert run(shell, "%%gpt\nhello").success
    run(shell, "%config GPTMagic.base_url = ''")  # back to OPENAI_BASE_URL: the local server
    run(shell, f"old = {url!r}")
    assert run(shell, "%%gpt\nthe old gateway was {old}").success
    sent = server.chat_requests[-1].body["messages"][-1]["content"]
    assert sent == f"the old gateway was http://{USER}:***@127.0.0.1:{port}/v1"


def test_a_password_with_an_at_sign_in_it_is_not_shown_in_part(shell, outputs):
    """Pasted unencoded, ``p@ss`` leaves two @ in the address: the host is after the last."""
    run(shell, "%config GPTMagic.base_url = 'http://alice:hunter2@gw-pw@127.0.0.1:9/v1'")
    assert run(shell, "%%gpt --dry-run\nhello").success  # the dry run connects nowhere
    shown = outputs.outputs[-1]["data"]["text/markdown"]
    assert "POST http://127.0.0.1:9/v1/chat/completions" in shown
    assert "gw-pw" not in shown and "hunter2" not in shown


# -- a query in the base URL: sent with every request, a credential's value masked ------------
GATEWAY_KEY = "gw-query-secret-5d1e"


def query_url(server, query: str = f"gwkey={GATEWAY_KEY}&team=data") -> str:
    return f"{server.base_url}?{query}"


def test_a_base_url_query_goes_with_every_request(shell, server):
    run(shell, f"%config GPTMagic.base_url = {query_url(server)!r}")
    assert run(shell, "%%gpt\nhello").success
    assert run(shell, "%gpt models").success
    assert run(shell, "%gptimage --size 256x256 a red fox").success
    sent = [(r.method, r.path, r.query) for r in server.requests]
    query = {"gwkey": GATEWAY_KEY, "team": "data"}
    assert sent == [
        ("POST", "/v1/chat/completions", query),
        ("GET", "/v1/models", query),
        ("POST", "/v1/images/generations", query),
    ]


@pytest.mark.parametrize(
    "query, shown_as",
    [
        (f"gwkey={GATEWAY_KEY}&team=data", "?gwkey=***&team=data"),
        (f"API_KEY={GATEWAY_KEY}", "?API_KEY=***"),  # a name in capitals is one too
    ],
)
def test_the_dry_run_shows_the_query_with_a_credentials_value_masked(
    shell, server, outputs, query, shown_as
):
    run(shell, f"%config GPTMagic.base_url = {query_url(server, query)!r}")
    assert run(shell, "%%gpt --dry-run\nhello").success
    shown = outputs.outputs[-1]["data"]["text/markdown"]
    assert f"POST {server.base_url}/chat/completions{shown_as}" in shown
    assert GATEWAY_KEY not in json.dumps(outputs.messages)


def test_a_query_credential_is_masked_in_an_error_line_and_the_setting_shown(
    shell, server, outputs, capsys
):
    server.enqueue(Reply(status=400, error={"message": f"bad request to ?gwkey={GATEWAY_KEY}"}))
    run(shell, f"%config GPTMagic.base_url = {query_url(server)!r}")
    assert not run(shell, "%%gpt\nhello").success
    assert run(shell, "%config GPTMagic.base_url").success
    printed = capsys.readouterr()
    assert "UsageError:" in printed.err
    for text in (printed.out, printed.err, json.dumps(outputs.messages)):
        assert GATEWAY_KEY not in text


def test_a_query_credential_echoed_in_an_answer_is_masked(shell, server, outputs):
    server.enqueue(Reply(text=[f"The gateway key is {GATEWAY_KEY}."]))
    run(shell, f"%config GPTMagic.base_url = {query_url(server)!r}")
    assert run(shell, "%%gpt\nhello").success
    assert "The gateway key is ***." in outputs.outputs[-1]["data"]["text/markdown"]
    assert GATEWAY_KEY not in json.dumps(outputs.messages)


def test_a_query_parameter_not_named_like_a_credential_is_shown(shell, server, outputs):
    server.enqueue(Reply(text=["Team data, format json."]))
    run(shell, f"%config GPTMagic.base_url = {query_url(server, 'team=data&format=json')!r}")
    assert run(shell, "%%gpt\nhello").success
    assert "Team data, format json." in outputs.outputs[-1]["data"]["text/markdown"]
