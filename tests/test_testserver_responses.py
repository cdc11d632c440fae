"""The local server's /v1/responses and Azure paths, read by the real ``openai`` SDK."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest
from conftest import KEY

from gptmagic.testing.server import Reply, tokenize


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def respond(client, **kwargs):
    return client.responses.create(**{"model": "gpt-4o-mini", "input": "Hello there", **kwargs})


def kinds(events):
    return [type(event).__name__ for event in events]


MESSAGE_EVENTS = [
    "ResponseOutputItemAddedEvent",
    "ResponseContentPartAddedEvent",
    *["ResponseTextDeltaEvent"] * 3,
    "ResponseTextDoneEvent",
    "ResponseContentPartDoneEvent",
    "ResponseOutputItemDoneEvent",
]


def test_a_stream_sends_the_apis_events_in_order_numbered(client, server):
    server.enqueue(Reply(text="One two three", endpoint="responses"))
    events = list(respond(client, stream=True))
    assert kinds(events) == [
        "ResponseCreatedEvent",
        "ResponseInProgressEvent",
        *MESSAGE_EVENTS,
        "ResponseCompletedEvent",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert [d.delta for d in deltas] == ["One ", "two ", "three"]
    assert {(d.item_id, d.output_index, d.content_index) for d in deltas} == {("msg_fake1", 0, 0)}
    done = events[-1].response
    assert (done.status, done.output_text, done.incomplete_details) == (
        "completed",
        "One two three",
        None,
    )
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.total_tokens) == (5, 3, 8)
    assert done.usage.output_tokens_details.reasoning_tokens == 0


def test_a_reasoning_model_streams_its_summary_before_the_answer(client):
    reasoning = {"effort": "low", "summary": "auto"}
    events = list(respond(client, model="o-reason", stream=True, reasoning=reasoning))
    names = kinds(events)
    summary = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
    assert "".join(summary) == "**Reading the question**\n\nThe user said *Hello there*; be brief."
    assert names.index("ResponseReasoningSummaryTextDeltaEvent") < names.index(
        "ResponseTextDeltaEvent"
    )
    done = events[-1].response
    assert [item.type for item in done.output] == ["reasoning", "message"]
    assert done.output[0].summary[0].text == "".join(summary)
    assert done.usage.output_tokens_details.reasoning_tokens == 8
    assert done.reasoning.effort == "low"


def test_a_reasoning_model_sends_no_summary_unless_asked(client):
    response = respond(client, model="o-reason")
    assert response.output[0].type == "reasoning" and response.output[0].summary == []
    assert response.usage.output_tokens_details.reasoning_tokens == 20  # medium, the default


def test_max_output_tokens_ends_the_response_incomplete(client):
    events = list(respond(client, stream=True, max_output_tokens=16, input="word " * 50))
    last = events[-1]
    assert type(last).__name__ == "ResponseIncompleteEvent"
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert len(tokenize(last.response.output_text)) == 16


def test_a_non_streamed_response_is_the_whole_object(client, server):
    server.enqueue(Reply(text="Fine.", usage="never"))  # a chat reply serves /responses too
    response = respond(client, instructions="Be brief.")
    assert response.object == "response" and response.id == "resp_fake1"
    assert response.output[0].content[0].type == "output_text"
    assert response.output_text == "Fine." and response.usage is None
    assert response.instructions == "Be brief."


def test_a_reply_meant_for_responses_is_not_taken_by_chat(client, server):
    server.enqueue(Reply(text="For responses only.", endpoint="responses"))
    chat = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert chat.choices[0].message.content.startswith("Answer 1")
    assert respond(client).output_text == "For responses only."
    assert [r.path for r in server.responses_requests] == ["/v1/responses"]


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"extra_body": {"n": 2}}, "n", "unknown_parameter"),
        ({"extra_body": {"max_tokens": 20}}, "max_tokens", "unknown_parameter"),
        ({"max_output_tokens": 15}, "max_output_tokens", "integer_below_min_value"),
        ({"temperature": 2.5}, "temperature", "invalid_value"),
        ({"reasoning": {"effort": "low"}}, "reasoning.effort", "unsupported_parameter"),
        ({"model": "o-reason", "temperature": 0.5}, "temperature", "unsupported_parameter"),
        (
            {"model": "o-reason", "reasoning": {"effort": "max"}},
            "reasoning.effort",
            "invalid_value",
        ),
        ({"input": []}, "input", "invalid_type"),
        ({"input": [{"role": "robot", "content": "Hi"}]}, "input[0].role", "invalid_value"),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]},
            "input[0].content[0]",
            "invalid_value",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input[0].content[0].image_url",
            "invalid_value",
        ),
    ],
)
def test_a_bad_parameter_is_refused_with_400_naming_it(client, fields, param, code):
    with pytest.raises(openai.BadRequestError) as caught:
        respond(client, **fields)
    assert (caught.value.param, caught.value.code) == (param, code)


def test_an_unknown_model_is_404_in_openais_shape(client):
    with pytest.raises(openai.NotFoundError) as caught:
        respond(client, model="gpt-nonexistent")
    assert caught.value.code == "model_not_found" and caught.value.type == "invalid_request_error"


def post(url, body, headers):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions"
HI = {"messages": [{"role": "user", "content": "Hi"}]}


def test_azure_paths_want_an_api_version(server):
    assert post(server.url + AZURE_CHAT, HI, {"api-key": KEY}) == (
        404,
        {"error": {"code": "404", "message": "Resource not found"}},
    )
    status, answer = post(f"{server.url}{AZURE_CHAT}?api-version=2024-10-21", HI, {"api-key": KEY})
    assert status == 200 and answer["model"] == "gpt-4o"  # the deployment names the model


def test_azure_refuses_a_wrong_api_key_and_an_unknown_deployment(server):
    url = f"{server.url}{AZURE_CHAT}?api-version=2024-10-21"
    assert post(url, HI, {"api-key": "wrong"})[0] == 401
    status, answer = post(url.replace("gpt-4o", "mine"), HI, {"api-key": KEY})
    assert (status, answer["error"]["code"]) == (404, "DeploymentNotFound")


def test_azures_v1_path_serves_responses_without_an_api_version(server):
    client = openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key=KEY, max_retries=0)
    assert respond(client).output_text.startswith("Answer 1 from gpt-4o-mini")
    assert server.responses_requests[0].path == "/openai/v1/responses"
