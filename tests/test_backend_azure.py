"""Azure OpenAI through the SDK's AzureOpenAI client, against the local server's Azure paths."""

from __future__ import annotations

import openai
import pytest
from conftest import KEY
from test_backend_responses import Request

from gptmagic.backends.azure import AzureEndpoint, is_azure_url, make_azure_client
from gptmagic.backends.events import Delta, Finish, Reported
from gptmagic.backends.responses import Responses
from gptmagic.errors import GPTMagicError

VERSION = "2025-04-01-preview"
HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def azure_env(server, monkeypatch):
    """The variables an Azure user already has, pointing at the local server."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("OPENAI_API_VERSION", VERSION)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return server


@pytest.fixture
def azure(azure_env):
    with make_azure_client(AzureEndpoint.resolve(), timeout=10) as client:
        yield client


@pytest.mark.parametrize(
    "url",
    [
        "https://myres.openai.azure.com",
        "https://MyRes.OpenAI.Azure.com/openai/deployments/gpt4/chat/completions?api-version=1",
        "https://myres.cognitiveservices.azure.com/",
    ],
)
def test_an_azure_resource_is_recognised_by_its_host(url):
    assert is_azure_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1",
        "https://openai.azure.com.example.org/v1",
        "https://example.org/myres.openai.azure.com/v1",
        "http://127.0.0.1:8000/v1",
        "",
        None,
    ],
)
def test_other_addresses_are_not_azure(url):
    assert not is_azure_url(url)


def test_the_endpoint_and_version_come_from_the_environment(azure_env):
    assert AzureEndpoint.resolve() == AzureEndpoint(azure_env.url, VERSION)


def test_a_url_copied_from_the_portal_gives_the_resource_and_its_version(monkeypatch):
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    url = "https://myres.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-10-21"
    assert AzureEndpoint.resolve(url) == AzureEndpoint(
        "https://myres.openai.azure.com", "2024-10-21"
    )
    assert AzureEndpoint.resolve(url, "2025-04-01-preview").api_version == "2025-04-01-preview"


def test_a_missing_endpoint_or_version_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    with pytest.raises(GPTMagicError, match="AZURE_OPENAI_ENDPOINT"):
        AzureEndpoint.resolve()
    with pytest.raises(GPTMagicError, match="OPENAI_API_VERSION"):
        AzureEndpoint.resolve("https://myres.openai.azure.com")


def test_a_missing_key_is_a_one_line_error(azure_env, monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    with pytest.raises(GPTMagicError, match="AZURE_OPENAI_API_KEY"):
        make_azure_client(AzureEndpoint.resolve())


def test_a_streamed_chat_answer_goes_to_the_deployment_with_version_and_api_key(azure, server):
    stream = azure.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Answer 1 from gpt-4o: you said *Hello there*. I can see 1 messages (1 user)."
    [recorded] = server.chat_requests
    assert recorded.path == "/openai/deployments/gpt-4o/chat/completions"
    assert recorded.query == {"api-version": VERSION}
    assert recorded.headers["api-key"] == KEY and "authorization" not in recorded.headers


def test_the_responses_backend_works_through_azure(azure, server):
    backend = Responses()
    stream = backend.open(azure, backend.body(Request(model="gpt-4o"), HELLO, set()))
    try:
        events = list(stream)
    finally:
        stream.close()
    text = "".join(e.text for e in events if isinstance(e, Delta))
    assert text.startswith("Answer 1 from gpt-4o: you said *Hello there*.")
    assert events[-2] == Finish(0, "stop") and isinstance(events[-1], Reported)
    [recorded] = server.responses_requests
    assert (recorded.path, recorded.query) == ("/openai/responses", {"api-version": VERSION})
    assert recorded.headers["api-key"] == KEY and recorded.body["model"] == "gpt-4o"


def test_an_unknown_deployment_raises_not_found(azure):
    with pytest.raises(openai.NotFoundError) as caught:
        azure.chat.completions.create(model="my-gpt", messages=HELLO)
    assert caught.value.code == "DeploymentNotFound"


def test_a_wrong_key_raises_authentication_error(azure_env):
    client = make_azure_client(AzureEndpoint.resolve(), "wrong-key")
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
