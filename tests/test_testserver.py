"""The local OpenAI-compatible test server, exercised through the real ``openai`` SDK."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from gptmagic.testing.server import FakeOpenAI, Reply

KEY = "sk-test"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


@pytest.fixture
def fake():
    with FakeOpenAI(api_key=KEY, lifetime=60) as server:
        yield server


@pytest.fixture
def client(fake):
    with openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def chat(client, **kwargs):
    return client.chat.completions.create(**{"model": "gpt-4o-mini", "messages": HELLO, **kwargs})


def stream(client, **kwargs):
    return list(chat(client, stream=True, **kwargs))


def streamed_text(chunks, index=0):
    choices = [c.choices[0] for c in chunks if c.choices and c.choices[0].index == index]
    return "".join(choice.delta.content or "" for choice in choices)


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def control(fake, path, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    with urllib.request.urlopen(urllib.request.Request(fake.url + path, data=data)) as response:
        return json.load(response)


def test_streamed_answer_carries_context_and_usage(client):
    chunks = stream(client, stream_options={"include_usage": True})
    assert chunks[0].choices[0].delta.role == "assistant"
    assert streamed_text(chunks) == (
        "Answer 1 from gpt-4o-mini: you said *Hello there*. "
        "I can see 2 messages (1 system, 1 user)."
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 2 + 3 + 2 + 3
    assert chunks[-1].usage.completion_tokens == 17


def test_stream_without_include_usage_has_no_usage(client):
    assert all(c.usage is None for c in stream(client))


def test_non_streamed_answer_counts_requests(client):
    chat(client)
    completion = chat(client)
    assert completion.choices[0].message.content.startswith("Answer 2 from gpt-4o-mini")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 17


def test_request_is_recorded(fake, client):
    chat(client, temperature=0.5)
    (recorded,) = fake.chat_requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.body == {"model": "gpt-4o-mini", "messages": HELLO, "temperature": 0.5}
    assert recorded.headers["authorization"] == f"Bearer {KEY}"


def test_queued_text_is_streamed_one_token_per_chunk(fake, client):
    fake.enqueue(Reply(text="One two  three\n\nfour"))
    contents = [c.choices[0].delta.content for c in stream(client) if c.choices]
    assert contents == ["", "One ", "two  ", "three\n\n", "four", None]


def test_tokens_reply_is_long_markdown(fake, client):
    fake.enqueue(Reply(tokens=500))
    text = chat(client).choices[0].message.content
    assert len(text.split()) == 500
    assert text.count("\n\n") == 8


def test_max_tokens_cuts_answer_with_finish_reason_length(client):
    choice = chat(client, max_tokens=3).choices[0]
    assert (choice.message.content, choice.finish_reason) == ("Answer 1 from ", "length")


def test_n_returns_distinct_choices(client):
    chunks = stream(client, n=2)
    assert streamed_text(chunks, 1) == streamed_text(chunks, 0) + " (variant 1)"


def test_ignore_n_returns_one_choice(fake, client):
    fake.enqueue(Reply(ignore_n=True))
    assert len(chat(client, n=3).choices) == 1


def test_wrong_api_key_is_rejected_with_masked_key(fake):
    wrong = openai.OpenAI(base_url=fake.base_url, api_key="sk-abSECRETxyz", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as raised:
        chat(wrong)
    assert "Incorrect API key provided: sk-***xyz." in str(raised.value)
    assert "SECRET" not in str(raised.value)
    assert len(fake.requests) == 1


def test_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError) as raised:
        chat(client, model="gpt-nope")
    assert raised.value.code == "model_not_found"


def test_an_unknown_path_is_openais_json_404_by_default(fake):
    request = urllib.request.Request(
        f"{fake.base_url}/nothing/here", method="POST", headers={"Authorization": f"Bearer {KEY}"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 404
    body = json.load(caught.value)
    assert body["error"]["message"] == "Invalid URL (POST /v1/nothing/here)"
    assert body["error"]["code"] is None


@pytest.mark.parametrize(
    ("style", "kind", "text"),
    [
        ("text", "text/plain", "404 page not found\n"),
        ("html", "text/html", "<h1>404 Not Found</h1>"),
    ],
)
def test_an_unknown_path_can_be_a_bare_servers_404(fake, style, kind, text):
    fake.not_found = style
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{fake.url}/models", timeout=5)  # a base URL without /v1
    assert caught.value.code == 404
    assert caught.value.headers["content-type"].startswith(kind)
    assert text in caught.value.read().decode()


def test_a_server_without_images_answers_404_there_and_still_chats(fake, client):
    fake.images = False
    with pytest.raises(openai.NotFoundError) as caught:
        client.images.generate(model="gpt-image-1", prompt="a fox")
    assert "Invalid URL (POST /v1/images/generations)" in str(caught.value)
    assert chat(client).choices[0].message.content.startswith("Answer 1")
    assert "gpt-image-1" in [m.id for m in client.models.list()]


def test_an_unknown_not_found_style_is_refused():
    with pytest.raises(ValueError, match="not_found"):
        FakeOpenAI(not_found="xml")


def test_strict_model_rejects_max_tokens(client):
    with pytest.raises(openai.BadRequestError) as raised:
        chat(client, model="o-strict", max_tokens=5)
    assert raised.value.param == "max_tokens"
    assert chat(client, model="o-strict", max_completion_tokens=5).choices[0].finish_reason


def test_fixed_temperature_model_rejects_other_temperatures(client):
    with pytest.raises(openai.BadRequestError, match=r"does not support 0\.2 "):
        chat(client, model="o-fixed-temp", temperature=0.2)


def test_malformed_request_body_is_a_bad_request(fake):
    url, headers = fake.base_url + "/chat/completions", {"Authorization": f"Bearer {KEY}"}
    request = urllib.request.Request(url, data=b"{oops", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    assert raised.value.code == 400
    raised.value.close()


def test_queued_429_carries_retry_after(fake, client):
    fake.enqueue(Reply(status=429, headers={"Retry-After": "0"}))
    with pytest.raises(openai.RateLimitError) as raised:
        chat(client)
    assert raised.value.response.headers["retry-after"] == "0"
    assert chat(client).choices[0].message.content.startswith("Answer 1")


def test_usage_never_sends_no_usage(fake, client):
    fake.enqueue(Reply(usage="never"))
    assert all(c.usage is None for c in stream(client, stream_options={"include_usage": True}))


def test_usage_in_last_chunk_rides_on_the_finish_chunk(fake, client):
    fake.enqueue(Reply(usage="in_last_chunk"))
    last = stream(client)[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage.completion_tokens == 17


def test_pings_are_ignored_by_the_client(fake, client):
    fake.enqueue(Reply(text="a b c", ping=True))
    assert streamed_text(stream(client)) == "a b c"


def test_drop_after_raises_connection_error_while_iterating(fake, client):
    fake.enqueue(Reply(drop_after=2))
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in chat(client, stream=True):
            received.append(chunk)
    assert streamed_text(received) == "Answer 1 "


def test_malformed_chunk_raises_during_iteration(fake, client):
    fake.enqueue(Reply(malformed_after=1))
    with pytest.raises(json.JSONDecodeError):
        stream(client)


def test_stall_makes_the_client_time_out(fake, client):
    fake.enqueue(Reply(stall=10))
    with pytest.raises(openai.APITimeoutError):
        stream(client, timeout=0.3)


def test_chunk_delay_paces_the_stream(fake, client):
    fake.enqueue(Reply(text="a b c d e", chunk_delay=0.05))
    started = time.monotonic()
    stream(client)
    assert time.monotonic() - started >= 0.2


def test_image_b64_is_a_png_of_the_requested_size(client):
    image = client.images.generate(model="gpt-image-1", prompt="a cat", size="1536x1024")
    assert png_size(base64.b64decode(image.data[0].b64_json)) == (1536, 1024)
    assert image.usage.output_tokens > 0


def test_image_url_is_downloadable(client):
    image = client.images.generate(model="dall-e-3", prompt="a cat", response_format="url")
    assert image.data[0].revised_prompt
    with urllib.request.urlopen(image.data[0].url) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert png_size(response.read()) == (1024, 1024)


def test_queued_image_rejection(fake, client):
    error = {"error": {"message": "Rejected by the safety system.", "code": "content_policy"}}
    fake.enqueue(Reply(endpoint="images", status=400, error=error))
    with pytest.raises(openai.BadRequestError, match="safety system"):
        client.images.generate(prompt="something", n=1)


def test_invalid_image_size_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError, match="Invalid size"):
        client.images.generate(prompt="a cat", size="300x300")


def test_models_are_listed(fake, client):
    assert [model.id for model in client.models.list()] == fake.models


def test_control_endpoints(fake, client):
    assert control(fake, "/_control/enqueue", [{"text": "scripted"}]) == {"queued": 1}
    assert chat(client).choices[0].message.content == "scripted"
    (recorded,) = control(fake, "/_control/requests")
    assert recorded["headers"]["authorization"] == "<redacted>"
    assert recorded["body"]["messages"] == HELLO
    control(fake, "/_control/reset", {})
    assert control(fake, "/_control/requests") == []


def test_stop_is_idempotent_and_refuses_new_requests(fake, client):
    fake.stop()
    fake.stop()
    with pytest.raises(openai.APIConnectionError):
        chat(client)


def test_server_stops_after_its_lifetime():
    with FakeOpenAI(lifetime=0.2) as server:
        time.sleep(0.5)
        assert server.stopped


def test_cli_prints_url_and_exits_after_lifetime():
    command = [sys.executable, "-m", "gptmagic.testing.server", "--lifetime", "2"]
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("GPTMAGIC_TEST_SERVER http://127.0.0.1:")
        with urllib.request.urlopen(line.split()[1] + "/models") as response:
            assert json.load(response)["object"] == "list"
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()


def test_default_answer_carries_a_python_block_when_one_is_asked_for(client):
    asked = [{"role": "user", "content": "Plot it. Answer in one ```python block."}]
    answer = chat(client, messages=asked).choices[0].message.content
    assert '```python\nprint("code from answer 1")\n```' in answer
