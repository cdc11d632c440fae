"""backends/chat_completions.py: request bodies with only what was set, in the accepted form."""

from __future__ import annotations

import pytest

from gptmagic.backends.chat_completions import (
    DROP_TEMPERATURE,
    DROP_TOP_P,
    NO_STREAM_OPTIONS,
    RENAME_MAX_TOKENS,
    adaptation_for,
    chat_body,
)
from tests.sdk_errors import bad_request, status_error

MESSAGES = [{"role": "user", "content": "hi"}]


def body(adaptations=(), **settings):
    values = {"temperature": None, "top_p": None, "max_tokens": None, "n": 1, "stream": False}
    values |= settings
    return chat_body(model="m", messages=MESSAGES, adaptations=set(adaptations), **values)


def test_nothing_unset_is_sent():
    assert body() == {"model": "m", "messages": MESSAGES}


def test_every_set_parameter_is_sent_including_zero():
    sent = body(temperature=0.0, top_p=0.0, max_tokens=5, n=2, stream=True)
    assert sent == {
        "model": "m",
        "messages": MESSAGES,
        "temperature": 0.0,
        "top_p": 0.0,
        "max_tokens": 5,
        "n": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_one_answer_is_the_default_and_not_sent():
    assert "n" not in body(n=1) and body(n=3)["n"] == 3


@pytest.mark.parametrize(
    ("adaptation", "absent", "present"),
    [
        (RENAME_MAX_TOKENS, "max_tokens", {"max_completion_tokens": 5}),
        (DROP_TEMPERATURE, "temperature", {"top_p": 0.5}),
        (DROP_TOP_P, "top_p", {"temperature": 0.7}),
        (NO_STREAM_OPTIONS, "stream_options", {"stream": True}),
    ],
)
def test_each_adaptation_changes_only_its_parameter(adaptation, absent, present):
    sent = body([adaptation], temperature=0.7, top_p=0.5, max_tokens=5, stream=True)
    assert absent not in sent
    assert present.items() <= sent.items()
    assert len(sent) == 7 - (adaptation != RENAME_MAX_TOKENS)


@pytest.mark.parametrize(
    ("param", "adaptation"),
    [
        ("max_tokens", RENAME_MAX_TOKENS),
        ("temperature", DROP_TEMPERATURE),
        ("top_p", DROP_TOP_P),
        ("stream_options", NO_STREAM_OPTIONS),
        ("stream_options.include_usage", NO_STREAM_OPTIONS),
    ],
)
def test_a_400_naming_a_sent_parameter_asks_for_its_adaptation(param, adaptation):
    sent = body(temperature=0.7, top_p=0.5, max_tokens=5, stream=True)
    assert adaptation_for(bad_request(param), sent) == adaptation


@pytest.mark.parametrize("param", ["max_tokens", "temperature", "top_p", "stream_options"])
def test_a_400_naming_a_parameter_that_was_not_sent_asks_for_nothing(param):
    assert adaptation_for(bad_request(param), body()) is None


def test_other_400s_and_other_statuses_ask_for_nothing():
    sent = body(temperature=0.7, max_tokens=5)
    assert adaptation_for(bad_request("messages"), sent) is None
    assert adaptation_for(bad_request(None), sent) is None
    error = {"error": {"message": "x", "param": "max_tokens"}}
    assert adaptation_for(status_error(422, body=error), sent) is None
    assert adaptation_for(ValueError("max_tokens"), sent) is None


def test_a_stream_is_read_as_plain_json_not_sdk_models(server):
    """Building the SDK's model of every chunk is most of the CPU a stream costs."""
    import openai

    from gptmagic.backends.chat_completions import ChatCompletions
    from gptmagic.backends.events import Delta, Finish
    from gptmagic.testing.server import Reply
    from tests.conftest import KEY

    server.enqueue(Reply(text=["Hi", " there"]))
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as sdk:
        stream = ChatCompletions().open(sdk, body(stream=True) | {"model": "gpt-4o-mini"})
        seen = []
        stream._stream = (seen.append(chunk) or chunk for chunk in stream._stream)
        events = list(stream)
        stream.close()
    assert [e for e in events if isinstance(e, Delta | Finish)] == [
        Delta(0, "Hi"),
        Delta(0, " there"),
        Finish(0, "stop"),
    ]
    assert len(seen) >= 3 and all(type(chunk) is dict for chunk in seen)
