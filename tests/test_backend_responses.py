"""The Responses API backend over real HTTP: the openai SDK against the local server."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import openai
import pytest
from conftest import KEY

from gptmagic.backends import backend_for, chat_completions
from gptmagic.backends.events import (
    Delta,
    Finish,
    MalformedChunk,
    Reasoning,
    Reported,
    ToolCall,
)
from gptmagic.backends.responses import DROP_REASONING, NO_REASONING_SUMMARY, Responses
from gptmagic.errors import GPTMagicError
from gptmagic.testing.server import Reply, tokenize
from gptmagic.transport import transport_errors
from gptmagic.usage import Usage

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
HELLO_PROMPT = (2 + 3) + (2 + 3)  # the server counts words + 3 per message
SUMMARY = "**Reading the question**\n\nThe user said *Hello there*; be brief."


@dataclass
class Request:
    """What a cell's request gives a backend (``ChatParameters``)."""

    model: str = "gpt-4o-mini"
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    n: int = 1
    stream: bool = True
    reasoning: str | None = None
    tools: bool = False


@pytest.fixture
def sdk(server):
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        yield client


def run(sdk, request=None, messages=HELLO, adaptations=frozenset()):
    """Every event of one request, its stream closed."""
    backend = Responses()
    opened = backend.open(sdk, backend.body(request or Request(), messages, set(adaptations)))
    try:
        return list(opened)
    finally:
        getattr(opened, "close", lambda: None)()


def text_of(events, kind=Delta):
    return "".join(e.text for e in events if isinstance(e, kind))


def test_the_registry_names_the_responses_backend():
    backend = backend_for("responses")
    assert isinstance(backend, Responses) and backend.path == "/responses"


def test_a_streamed_answer_is_deltas_then_finish_then_usage(sdk, server):
    text = "Hello from the responses API, streamed."
    server.enqueue(Reply(text=text, endpoint="responses"))
    events = run(sdk)
    deltas = [e for e in events if isinstance(e, Delta)]
    assert [d.text for d in deltas] == tokenize(text) and len(deltas) == 6
    assert events[len(deltas) :] == [
        Finish(0, "stop"),
        Reported(Usage(HELLO_PROMPT, 6, HELLO_PROMPT + 6, 0), "gpt-4o-mini"),
    ]
    assert server.responses_requests[0].body["stream"] is True


def test_a_non_streamed_answer_gives_the_same_text_finish_and_usage(sdk, server):
    text = "Hello from the responses API, at once."
    server.enqueue(Reply(text=text, endpoint="responses"))
    events = run(sdk, Request(stream=False))
    assert events == [
        Delta(0, text),
        Finish(0, "stop"),
        Reported(Usage(HELLO_PROMPT, 7, HELLO_PROMPT + 7, 0), "gpt-4o-mini"),
    ]
    assert "stream" not in server.responses_requests[0].body


@pytest.mark.parametrize("stream", [True, False])
def test_max_output_tokens_reached_finishes_with_length(sdk, server, stream):
    server.enqueue(Reply(tokens=40, endpoint="responses"))
    events = run(sdk, Request(max_tokens=16, stream=stream))
    assert len(tokenize(text_of(events))) == 16
    assert [e for e in events if isinstance(e, Finish)] == [Finish(0, "length")]
    assert events[-1].usage.completion_tokens == 16
    assert server.responses_requests[0].body["max_output_tokens"] == 16


def test_a_stream_ended_by_the_content_filter_says_so(sdk, server):
    server.enqueue(Reply(text="Partly said", finish_reason="content_filter"))
    assert Finish(0, "content_filter") in run(sdk)


@pytest.mark.parametrize("stream", [True, False])
def test_a_reasoning_summary_comes_apart_from_the_answer_with_its_tokens(sdk, server, stream):
    events = run(sdk, Request(model="o-reason", reasoning="high", stream=stream))
    assert text_of(events, Reasoning) == SUMMARY
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, Delta))
    assert all(isinstance(e, Reasoning) for e in events[:first_delta])
    answer = text_of(events)
    assert answer.startswith("Answer 1 from o-reason: you said *Hello there*.")
    usage = events[-1].usage
    assert usage.reasoning_tokens == 48  # the server's cost of "high"
    assert usage.completion_tokens == len(tokenize(answer)) + 48
    assert server.responses_requests[0].body["reasoning"] == {"effort": "high", "summary": "auto"}


def test_reasoning_tokens_count_against_max_output_tokens(sdk):
    events = run(sdk, Request(model="o-reason", reasoning="medium", max_tokens=30))
    assert len(tokenize(text_of(events))) == 30 - 20
    assert events[-2:-1] == [Finish(0, "length")]
    assert (events[-1].usage.completion_tokens, events[-1].usage.reasoning_tokens) == (30, 20)


def test_an_unknown_model_raises_not_found(sdk):
    with pytest.raises(openai.NotFoundError) as caught:
        run(sdk, Request(model="gpt-nonexistent"))
    assert caught.value.code == "model_not_found"


def adapted_run(sdk, request):
    """Send; on a 400 take the adaptation the backend names and send once more."""
    try:
        return None, run(sdk, request)
    except openai.BadRequestError as exc:
        backend = Responses()
        adaptation = backend.adaptation_for(exc, backend.body(request, HELLO, set()))
        return adaptation, run(sdk, request, adaptations={adaptation})


def test_a_reasoning_model_refusing_temperature_gets_it_dropped(sdk, server):
    adaptation, events = adapted_run(sdk, Request(model="o-reason", temperature=0.2))
    assert adaptation == chat_completions.DROP_TEMPERATURE
    assert Finish(0, "stop") in events
    first, second = (r.body for r in server.responses_requests)
    assert first["temperature"] == 0.2 and "temperature" not in second


def test_a_reasoning_model_refusing_top_p_gets_it_dropped(sdk, server):
    adaptation, _ = adapted_run(sdk, Request(model="o-reason", top_p=0.5))
    assert adaptation == chat_completions.DROP_TOP_P
    assert "top_p" not in server.responses_requests[-1].body


def test_reasoning_effort_for_a_model_that_does_not_reason_is_dropped(sdk, server):
    adaptation, events = adapted_run(sdk, Request(reasoning="low"))
    assert adaptation == DROP_REASONING
    assert text_of(events).startswith("Answer 1 from gpt-4o-mini")
    first, second = (r.body for r in server.responses_requests)
    assert first["reasoning"] == {"effort": "low", "summary": "auto"} and "reasoning" not in second


def test_a_refused_reasoning_summary_keeps_the_effort(sdk, server):
    error = {"message": "Your organization must be verified to generate reasoning summaries.",
             "type": "invalid_request_error", "param": "reasoning.summary",
             "code": "unsupported_value"}  # fmt: skip
    server.enqueue(Reply(status=400, error={"error": error}, endpoint="responses"))
    adaptation, events = adapted_run(sdk, Request(model="o-reason", reasoning="low"))
    assert adaptation == NO_REASONING_SUMMARY
    assert server.responses_requests[-1].body["reasoning"] == {"effort": "low"}
    assert not any(isinstance(e, Reasoning) for e in events)
    assert events[-1].usage.reasoning_tokens == 8


def test_a_400_about_another_parameter_asks_for_no_adaptation(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        run(sdk, Request(max_tokens=5))  # the API's minimum is 16
    assert caught.value.param == "max_output_tokens"
    backend = Responses()
    body = backend.body(Request(max_tokens=5), HELLO, set())
    assert backend.adaptation_for(caught.value, body) is None


def test_the_body_maps_system_to_instructions_and_the_limits_to_their_names():
    request = Request(temperature=0, top_p=0.9, max_tokens=100, reasoning="medium", stream=False)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again"},
    ]
    assert Responses().body(request, messages, set()) == {
        "model": "gpt-4o-mini",
        "instructions": "Be brief.",
        "input": messages[1:],
        "temperature": 0,
        "top_p": 0.9,
        "max_output_tokens": 100,
        "reasoning": {"effort": "medium", "summary": "auto"},
    }


def test_the_body_sends_only_what_was_set():
    assert Responses().body(Request(), [{"role": "user", "content": "Hi"}], set()) == {
        "model": "gpt-4o-mini",
        "input": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }


PNG = "data:image/png;base64,iVBORw0KGgo="


def test_image_and_text_parts_become_input_and_output_parts(sdk, server):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                     {"type": "image_url", "image_url": {"url": PNG}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A chart."}]},
        {"role": "user", "content": "What does it show?"},
    ]  # fmt: skip
    events = run(sdk, messages=messages)
    assert text_of(events).startswith("Answer 1 from gpt-4o-mini: you said *What does it show?*")
    assert server.responses_requests[0].body["input"][:2] == [
        {"role": "user", "content": [{"type": "input_text", "text": "Look:"},
                                     {"type": "input_image", "image_url": PNG}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "A chart."}]},
    ]  # fmt: skip


def test_several_answers_are_refused_before_anything_is_sent(sdk, server):
    with pytest.raises(GPTMagicError, match=r"one answer per request.*-n 3"):
        run(sdk, Request(n=3))
    assert server.requests == []


def test_a_dropped_stream_raises_a_transport_error_after_the_text_so_far(sdk, server):
    server.enqueue(Reply(tokens=20, drop_after=5, endpoint="responses"))
    backend = Responses()
    stream = backend.open(sdk, backend.body(Request(), HELLO, set()))
    received = []
    with pytest.raises(transport_errors()):
        received.extend(stream)
    stream.close()
    assert len(received) == 5 and all(isinstance(e, Delta) for e in received)


@pytest.mark.parametrize("fail_event", ["response.failed", "error"])
def test_a_response_failing_mid_stream_raises_the_servers_error(sdk, server, fail_event):
    server.enqueue(Reply(tokens=20, fail_after=3, fail_event=fail_event, endpoint="responses"))
    backend = Responses()
    stream = backend.open(sdk, backend.body(Request(), HELLO, set()))
    received = []
    with pytest.raises(openai.APIError) as caught:
        received.extend(stream)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert isinstance(caught.value, transport_errors())
    assert caught.value.code == "server_error"
    assert caught.value.message == "The model failed to generate a response."
    assert len(received) == 3


def text_event(delta) -> str:
    return json.dumps({"type": "response.output_text.delta", "delta": delta})


def completed(response) -> str:
    return json.dumps({"type": "response.completed", "response": response})


MALFORMED_EVENTS = {
    "delta is a number": (text_event(5), "'delta' is 5, not str"),
    "event is a list": ("[1, 2]", "[1, 2] where an object was expected"),
    "response is a string": (completed("done"), "'done' where an object was expected"),
    "output is a number": (completed({"status": "completed", "output": 3}), "'output' is 3"),
    "item is a string": (
        json.dumps({"type": "response.output_item.done", "item": "call"}),
        "'call' where an object was expected",
    ),
}


@pytest.mark.parametrize("bad, why", MALFORMED_EVENTS.values(), ids=MALFORMED_EVENTS.keys())
def test_a_malformed_event_raises_malformed_chunk_after_the_text_so_far(sdk, server, bad, why):
    good = [text_event("Hello"), text_event(" world")]
    server.enqueue(Reply(raw_chunks=[*good, bad, text_event("never"), "[DONE]"]))
    backend = Responses()
    stream = backend.open(sdk, backend.body(Request(), HELLO, set()))
    received = []
    with pytest.raises(MalformedChunk, match=re.escape(why)):
        received.extend(stream)
    stream.close()
    assert received == [Delta(0, "Hello"), Delta(0, " world")]


def test_a_stream_is_read_as_plain_json_not_sdk_models(sdk, server):
    """Building the SDK's model of every event is most of the CPU a stream costs."""
    server.enqueue(Reply(text="Hi", endpoint="responses"))
    backend = Responses()
    stream = backend.open(sdk, backend.body(Request(), HELLO, set()))
    seen = []
    stream._stream = (seen.append(event) or event for event in stream._stream)
    assert [e for e in stream if isinstance(e, Delta)] == [Delta(0, "Hi")]
    assert seen and all(type(event) is dict for event in seen)


@pytest.mark.parametrize("stream", [True, False])
def test_a_function_call_becomes_a_tool_call(sdk, server, stream):
    call = {"name": "describe", "arguments": '{"name": "df"}'}
    server.enqueue(Reply(tool_calls=[call], endpoint="responses"))
    events = run(sdk, Request(stream=stream))
    assert events[:2] == [
        ToolCall(0, "call_fake1_0", "describe", '{"name": "df"}'),
        Finish(0, "tool_calls"),
    ]
    assert not any(isinstance(e, Delta) for e in events)


def test_usage_reads_reasoning_tokens_of_chat_completions_too():
    from openai.types import CompletionUsage

    usage = CompletionUsage(
        prompt_tokens=5,
        completion_tokens=30,
        total_tokens=35,
        completion_tokens_details={"reasoning_tokens": 12},
    )
    assert Usage.from_api(usage) == Usage(5, 30, 35, 12)
    assert Usage.from_api(Usage(5, 30, 35, 12).to_dict()) == Usage(5, 30, 35, 12)


def test_usage_stores_reasoning_tokens_only_when_a_model_reasoned():
    assert Usage(1, 2, 3).to_dict() == {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
    }
    assert (Usage(1, 2, 3, 1) + Usage(1, 2, 3, 4)).reasoning_tokens == 5


def summary_event(kind: str, text: str) -> str:
    field = "delta" if kind == "delta" else "text"
    return json.dumps({"type": f"response.reasoning_summary_text.{kind}", field: text})


def test_the_parts_of_a_streamed_summary_are_kept_apart(sdk, server):
    """A summary often comes in parts, each opening with its title; the stream gives their
    deltas one after another, which joined as they came would read "First.**Two**"."""
    parts = [
        summary_event("delta", "**One**\n\nFirst."),
        summary_event("done", "**One**\n\nFirst."),
        summary_event("delta", "**Two**"),
        summary_event("delta", "\n\nSecond."),
        summary_event("done", "**Two**\n\nSecond."),
    ]
    server.enqueue(Reply(raw_chunks=[*parts, text_event("Hi"), "[DONE]"]))
    events = run(sdk, Request(model="o-reason", reasoning="low"))
    assert text_of(events, Reasoning) == "**One**\n\nFirst.\n\n**Two**\n\nSecond."
    assert text_of(events) == "Hi"


def test_the_parts_of_a_summary_at_once_are_kept_apart(sdk, server):
    from openai.types.responses.response_reasoning_item import Summary

    from gptmagic.backends.responses import response_events

    server.enqueue(Reply(text="Hi", endpoint="responses"))
    response = sdk.responses.create(
        model="o-reason", input="Hello there", reasoning={"effort": "low", "summary": "auto"}
    )
    response.output[0].summary.append(Summary(text="**Two**\n\nSecond.", type="summary_text"))
    events = response_events(response, None)
    assert text_of(events, Reasoning) == f"{SUMMARY}\n\n**Two**\n\nSecond."
    assert text_of(events) == "Hi"


def ended(kind: str, response: dict) -> str:
    return json.dumps({"type": kind, "response": response})


def test_an_incomplete_response_without_a_reason_is_not_said_to_be_cut_by_max_tokens(sdk, server):
    """Only ``max_output_tokens`` means the limit cut it; with no ``incomplete_details`` the
    finish is plain ``incomplete``, so no note blames a max_tokens that was never set."""
    response = {"status": "incomplete", "incomplete_details": None, "output": []}
    server.enqueue(Reply(raw_chunks=[text_event("Hal"), ended("response.incomplete", response)]))
    events = run(sdk)
    assert [e for e in events if isinstance(e, Finish)] == [Finish(0, "incomplete")]
    assert text_of(events) == "Hal"


def test_raw_reasoning_text_comes_apart_from_the_answer(sdk, server):
    """Open reasoning models (gpt-oss behind vLLM) stream their reasoning itself as
    ``response.reasoning_text.delta``: it is reasoning, shown apart, never answer text."""
    thinking = [
        json.dumps({"type": "response.reasoning_text.delta", "delta": "The user greets; "}),
        json.dumps({"type": "response.reasoning_text.delta", "delta": "greet back."}),
    ]
    done = ended("response.completed", {"status": "completed", "output": []})
    server.enqueue(Reply(raw_chunks=[*thinking, text_event("Hi!"), done, "[DONE]"]))
    events = run(sdk, Request(model="o-reason", reasoning="low"))
    assert text_of(events, Reasoning) == "The user greets; greet back."
    assert text_of(events) == "Hi!"
    assert events[-1] == Finish(0, "stop")
