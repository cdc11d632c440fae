"""A base URL may carry credentials (``http://user:password@gateway/v1``): they are used for
the connection and shown nowhere, neither in the dry run nor in what a notebook keeps."""

from __future__ import annotations

import json

from gptmagic.client import Endpoint, public_url
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
