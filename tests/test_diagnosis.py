"""Errors that need a second look: which 404 it was, and a refusal after no key was set.

A 404 is an unknown model or a path the server does not have (a base URL without /v1, a
server without an images endpoint, a gateway whose backend lacks the model); the body's
structured fields and one ``GET /models`` tell them apart. A local server that wants a key
gets the placeholder when none is set, and its refusal must say so.
"""

from __future__ import annotations

import openai
import pytest

from gptmagic.diagnosis import display_url
from gptmagic.errors import Facts, explain
from gptmagic.testing.server import Reply
from tests.conftest import KEY, run
from tests.test_reliability import error_line
from tests.test_retrying import status_error


def paths(server) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


# -- 404: an unknown model ----------------------------------------------------------------------
def test_an_unknown_model_is_named_with_close_names(shell, server, capsys):
    assert not run(shell, "%%gpt -m gpt-4o-mni\nhello").success
    line = error_line(capsys)
    assert line == (
        f"UsageError: Model 'gpt-4o-mni' was not found on {server.url.removeprefix('http://')} "
        "(404). Close names: gpt-4o-mini, gpt-4o. Run %gpt models to list the models it offers."
    )
    assert paths(server) == ["POST /v1/chat/completions", "GET /v1/models"]


def test_an_unknown_model_far_from_any_name_gets_no_suggestion(shell, server, capsys):
    run(shell, "%%gpt -m no-such-model\nhello")
    line = error_line(capsys)
    assert "Model 'no-such-model' was not found" in line and "Close names" not in line


def test_an_unknown_image_model_is_named(shell, server, capsys):
    run(shell, "%gptimage -m dall-e-4 a red fox")
    line = error_line(capsys)
    assert "Model 'dall-e-4' was not found" in line and "Close names: dall-e-3." in line


# -- 404 on Azure: the model names a deployment --------------------------------------------------
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_unknown_azure_deployment_is_named_as_a_deployment(azure_shell, server, capsys, api):
    """Azure's model list holds the base models the resource can deploy: 'Close names:
    gpt-4o. Run %gpt models' sent users to a list that -m does not take."""
    run(azure_shell, f"%config GPTMagic.api = '{api}'")
    assert not run(azure_shell, "%%gpt -m my-gpt4o\nhello").success
    line = error_line(capsys)
    assert line.startswith(
        f"UsageError: No deployment named 'my-gpt4o' on {server.url.removeprefix('http://')} (404"
    )
    assert "Deployments page" in line
    assert "%gpt models" not in line and "Close names" not in line
    assert not [p for p in paths(server) if p.startswith("GET")]  # no model-list probe


def test_azure_model_list_says_it_is_not_the_deployments(azure_shell, outputs):
    run(azure_shell, "%gpt models")
    markdown = outputs.markdown()[-1]
    assert "- `gpt-4o`" in markdown
    assert markdown.endswith(
        "not its deployments: -m takes the name you gave a deployment "
        "(the Deployments page of the Azure AI Foundry portal)."
    )


def test_an_openai_model_list_has_no_deployment_note(shell, outputs):
    run(shell, "%gpt models")
    assert "deployment" not in outputs.markdown()[-1]


# -- 404: a path the server does not have ----------------------------------------------------
def without_v1(shell, server, capsys, style: str, cell: str) -> str:
    """Run ``cell`` with the base URL missing its /v1 (404s in ``style``): the error line."""
    server.not_found = style
    run(shell, f"%config GPTMagic.base_url = '{server.url}'")
    assert not run(shell, cell).success
    return error_line(capsys)


@pytest.mark.parametrize("style", ["json", "text", "html"])
def test_a_base_url_without_v1_is_told_apart_from_an_unknown_model(shell, server, capsys, style):
    line = without_v1(shell, server, capsys, style, "%%gpt\nhello")
    assert "was not found" not in line and "%gpt models" not in line
    assert "has no POST /chat/completions and no model list (404" in line
    assert f"GPTMagic.base_url ({server.url}) looks wrong" in line
    assert f"(try {server.url}/v1)" in line
    assert "<" not in line  # no HTML in the one line
    assert paths(server) == ["POST /chat/completions", "GET /models"]


def test_the_base_url_in_an_error_line_has_no_query(shell, server, capsys):
    """The line names the base URL to fix, as its scheme, host and path; a query (a gateway's
    routing value or key) is sent with the requests but is not part of what to fix."""
    server.not_found = "json"
    run(shell, f"%config GPTMagic.base_url = '{server.url}?team=data'")
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert f"GPTMagic.base_url ({server.url}) looks wrong" in line
    assert "team=data" not in line


def test_display_url_drops_credentials_of_an_address_it_cannot_parse():
    assert display_url("http://alice:hunter2pw@/v1") == "/v1"  # no host
    assert display_url("alice:hunter2pw@gw.example/v1") == "gw.example/v1"  # no scheme


def test_a_server_without_an_images_endpoint_says_so(shell, server, capsys):
    server.images = False
    assert not run(shell, "%gptimage a red fox").success
    line = error_line(capsys)
    host = server.url.removeprefix("http://")
    assert line.startswith(
        f"UsageError: {host} offers 'gpt-image-1' but has no POST /v1/images/generations (404"
    )
    assert "was not found" not in line
    assert paths(server) == ["POST /v1/images/generations", "GET /v1/models"]


def test_a_listed_model_that_404s_points_at_the_gateway(shell, server, capsys):
    server.enqueue(Reply(status=404))  # a gateway relaying its backend's plain 404
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert "offers 'gpt-4o-mini' but has no POST /v1/chat/completions (404" in line
    assert "backend behind a gateway" in line and "UsageError: Model" not in line


def test_a_listed_model_its_backend_does_not_know_points_at_the_gateway(shell, server, capsys):
    body = {
        "error": {"message": "The model `gpt-4o-mini` does not exist", "code": "model_not_found"}
    }
    server.enqueue(Reply(status=404, error=body))
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert "lists 'gpt-4o-mini' but answered that it was not found (404" in line
    assert "a gateway's backend" in line


@pytest.mark.parametrize("style", ["json", "text"])
def test_models_with_a_wrong_base_url_says_what_to_fix(shell, server, capsys, style):
    line = without_v1(shell, server, capsys, style, "%gpt models")
    assert "%gpt models" not in line and "was not found" not in line
    assert "has no model list at GET /models (404" in line
    assert f"(try {server.url}/v1)" in line
    assert paths(server) == ["GET /models"]  # no probe: this was the probe


@pytest.mark.parametrize("command", ["%%gpt\nHello", "%gpt models"])
def test_a_base_url_without_a_scheme_is_one_line_and_not_retried(
    shell, server, outputs, capsys, command
):
    """``127.0.0.1:8765/v1`` cannot be sent (httpx: UnsupportedProtocol): no retry can help,
    and the proxy or the network is not to blame."""
    address = server.url.removeprefix("http://") + "/v1"
    run(shell, f"%config GPTMagic.base_url = '{address}'")
    assert not run(shell, command).success
    assert error_line(capsys) == (
        f"UsageError: The server address {address!r} has no http:// or https:// in front: "
        f"write it in full (https://{address}, or http:// for a local server) in "
        "GPTMagic.base_url or OPENAI_BASE_URL."
    )
    assert not any("retrying" in str(o["data"]) for o in outputs.outputs)
    assert server.requests == []


BAD_IPV6 = "http://[::1/v1"  # an unclosed bracket: no URL parser reads it


@pytest.mark.parametrize("command", ["%%gpt\nHello", "%gpt models", "%gptimage a fox", "%gpt"])
def test_a_base_url_no_parser_can_read_is_one_line(shell, server, capsys, command):
    run(shell, f"%config GPTMagic.base_url = {BAD_IPV6!r}")
    assert not run(shell, command).success
    assert error_line(capsys) == (
        f"UsageError: The server address {BAD_IPV6!r} cannot be read (Invalid IPv6 URL): "
        "fix it in GPTMagic.base_url or OPENAI_BASE_URL."
    )
    assert server.requests == []


def test_a_proxy_no_parser_can_read_is_one_line_without_its_password(shell, server, capsys):
    run(shell, "%config GPTMagic.proxy = 'http://user:hunter2pw@[::1:3128'")
    assert not run(shell, "%%gpt\nHello").success
    assert error_line(capsys) == (
        "UsageError: The proxy address 'http://***@[::1:3128' cannot be read (Invalid IPv6 "
        "URL): fix it in GPTMagic.proxy."
    )


def test_a_404_that_cannot_be_told_apart_names_both_causes():
    exc = status_error(404, body={"message": "Not Found"}, cls=openai.NotFoundError)
    facts = Facts(base_url="http://h:1/api")  # the model list could not be fetched
    line = explain(exc, host="h:1", model="m", timeout=5, secrets=[], facts=facts)
    assert line == (
        "h:1 answered 404 for POST /v1/chat/completions: Not Found. Either model 'm' is unknown "
        "there (%gpt models lists them) or GPTMagic.base_url (http://h:1/api) is wrong. Most "
        "servers want it to end in /v1 (try http://h:1/api/v1)."
    )


def test_a_404_naming_the_model_field_is_an_unknown_model():
    body = {"message": "unknown", "param": "model", "code": 404}  # vLLM's shape
    exc = status_error(404, body=body, cls=openai.NotFoundError)
    line = explain(exc, host="h", model="m", timeout=5, secrets=[])
    assert line.startswith("Model 'm' was not found on h (404).")


# -- a web server, not an API, at the base URL -------------------------------------------------
PAGE = """<!DOCTYPE HTML>
<html lang="en">
    <head><title>Error response</title></head>
    <body><h1>Error response</h1><p>Message: Unsupported method ('POST').</p></body>
</html>
"""


@pytest.mark.parametrize(
    ("cell", "endpoint", "path"),
    [
        ("%%gpt\nhello", "chat", "POST /v1/chat/completions"),
        ("%%gpt --no-stream\nhello", "chat", "POST /v1/chat/completions"),
        ("%gptimage a red fox", "images", "POST /v1/images/generations"),
        ("%gpt models", "models", "GET /v1/models"),
    ],
)
def test_a_web_page_instead_of_an_answer_is_named_in_one_line(
    shell, server, capsys, outputs, cell, endpoint, path
):
    server.enqueue(Reply(endpoint=endpoint, error="<html><body>Sign in</body></html>"))
    assert not run(shell, cell).success
    assert error_line(capsys) == (
        f"UsageError: {server.url.removeprefix('http://')} answered {path} with a web page "
        "(text/html), not the API's JSON: this is not an OpenAI-compatible API (a web server "
        f"or a login page?); check GPTMagic.base_url ({server.base_url})."
    )


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_text_page_instead_of_an_event_stream_is_named_not_blamed_on_the_context(
    shell, server, capsys, outputs, api
):
    """A reverse proxy answering 200 with its own text (nginx ``return 200 "ok"``): the
    stream holds no event, which is not the too-long prompt an empty event stream may be."""
    run(shell, f"%config GPTMagic.api = '{api}'")
    server.enqueue(Reply(endpoint=api, error="ok"))
    assert not run(shell, "%%gpt\nhello").success
    host = server.url.removeprefix("http://")
    assert error_line(capsys) == (
        f"UsageError: The answer is incomplete: {host} answered with text/plain, not an event "
        "stream, and nothing gptmagic could read: check that GPTMagic.base_url "
        f"({server.base_url}) is an OpenAI-compatible API. No answer text arrived; nothing "
        "was stored."
    )
    assert outputs.outputs[-1]["metadata"]["gptmagic"]["status"] == "incomplete"


@pytest.mark.parametrize("status", [405, 501])
def test_a_web_server_at_the_base_url_is_named_in_one_line(shell, server, capsys, status):
    shell.run_line_magic("config", "GPTMagic.max_retries = 2")
    server.enqueue(Reply(status=status, error=PAGE))
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert line == (
        f"UsageError: {server.url.removeprefix('http://')} does not accept POST "
        f"/v1/chat/completions ({status}; Error response): this is not an OpenAI-compatible "
        f"API; check GPTMagic.base_url ({server.base_url})."
    )
    assert len(server.chat_requests) == 1  # not retried: the same again cannot help


def test_an_html_error_page_is_one_line_its_title(shell, server, capsys):
    page = "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>"
    server.enqueue(Reply(status=502, error=page))
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert "failed with 502: 502 Bad Gateway The server is having trouble" in line
    assert "<" not in line and "nginx" not in line


def test_a_message_over_several_lines_is_shown_on_one(shell, server, capsys):
    body = {"error": {"message": "Bad input:\n  messages[0]\n  is empty", "param": "messages"}}
    server.enqueue(Reply(status=400, error=body))
    run(shell, "%%gpt\nhello")
    assert error_line(capsys).endswith("refused the request (400): Bad input: messages[0] is empty")


# -- a refusal after the placeholder key -----------------------------------------------------
@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")


def test_a_local_server_that_wants_a_key_says_none_is_set(shell, server, capsys, no_key):
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    host = server.url.removeprefix("http://")
    assert line.startswith(f"UsageError: {host} wants an API key (401) and none is set")
    assert "set OPENAI_API_KEY before starting the kernel, or run %gpt key" in line
    assert server.chat_requests[0].headers["authorization"] == "Bearer no-key-needed"


@pytest.mark.parametrize("status", [400, 403])
def test_a_key_refusal_in_other_words_says_none_is_set(shell, server, capsys, no_key, status):
    server.api_key = None
    body = {"error": {"message": "No connected db.", "type": "no_db_connection", "param": "None"}}
    server.enqueue(Reply(status=status, error=body))  # LiteLLM with a master key, no database
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert f"refused the request ({status}): No connected db. No API key is set" in line
    assert "or run %gpt key" in line


def test_a_bad_parameter_after_the_placeholder_is_not_blamed_on_the_key(
    shell, server, capsys, no_key
):
    server.api_key = None
    body = {"error": {"message": "messages is too long", "param": "messages"}}
    server.enqueue(Reply(status=400, error=body))
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert "refused the request (400): messages is too long" in line and "key" not in line


def test_a_real_key_refused_is_not_called_missing(shell, server, capsys):
    server.enqueue(Reply(status=401))
    run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert "rejected the API key (401)" in line and "none is set" not in line
    assert KEY not in line


def test_models_from_a_local_server_that_wants_a_key_says_none_is_set(
    shell, server, capsys, no_key
):
    assert not run(shell, "%gpt models").success
    assert "wants an API key (401) and none is set" in error_line(capsys)


def test_a_failed_image_request_after_the_placeholder_says_none_is_set(
    shell, server, capsys, no_key
):
    run(shell, "%gptimage a red fox")
    assert "wants an API key (401) and none is set" in error_line(capsys)


def test_a_web_page_with_a_charset_is_named_as_a_web_page(shell, server, capsys):
    """Most web servers and single-page apps send ``text/html; charset=utf-8``."""
    page = "<html><body>Sign in</body></html>"
    html = {"Content-Type": "text/html; charset=utf-8"}
    server.enqueue(Reply(error=page, headers=html))
    assert not run(shell, "%%gpt\nhello").success
    assert error_line(capsys) == (
        f"UsageError: {server.url.removeprefix('http://')} answered POST /v1/chat/completions "
        "with a web page (text/html), not the API's JSON: this is not an OpenAI-compatible API "
        f"(a web server or a login page?); check GPTMagic.base_url ({server.base_url})."
    )
