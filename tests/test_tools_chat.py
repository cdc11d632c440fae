"""%%gpt --tools: the tool loop over real HTTP with real pandas data in the kernel.

The local server scripts the model's calls (``Reply(tool_calls=...)``); gptmagic runs them on
``shell.user_ns``, sends the results back, and the cell, history, provenance, replay cache
and exports carry the calls."""

from __future__ import annotations

import json
import re

import openai
import pandas as pd
import pytest

from gptmagic.content import message_tokens
from gptmagic.describe import Options, describe
from gptmagic.testing.server import Reply, _message_text, tokenize
from gptmagic.tokens import estimate_tokens
from gptmagic.tools import (
    CALL_LIMIT_OUTPUT,
    MAX_CALLS,
    MAX_ROUNDS,
    ROUND_LIMIT_OUTPUT,
    chat_tools,
    responses_tools,
    run_tool,
)
from gptmagic.usage import Usage
from tests.conftest import KEY, interrupt_when, run
from tests.test_reliability import error_line, interrupt_when_shown

ANSWER = "Sales has 96 rows in four regions."
DESCRIBE = {"name": "describe_variable", "arguments": '{"name": "sales"}'}
SUMMARY = "🔧 describe_variable(sales) → 96 rows × 3 columns"


@pytest.fixture
def sales(shell):
    frame = pd.DataFrame(
        {
            "region": [["north", "south", "east", "west"][i % 4] for i in range(96)],
            "units": range(96),
            "price": [1.5] * 96,
        }
    )
    shell.user_ns["sales"] = frame
    return frame


def session(shell):
    return shell.magics_manager.registry["GPTMagic"].session


def final(outputs) -> dict:
    return outputs.outputs[-1]


def prompt_tokens(messages) -> int:
    """What the local server counts for a chat prompt (words + 3 per message)."""
    return sum(len(_message_text(m).split()) + 3 for m in messages)


# -- the loop -----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
def test_a_tool_call_runs_and_its_exact_result_goes_back_to_the_model(
    shell, server, outputs, sales, stream
):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    option = "" if stream else " --no-stream"
    assert run(shell, f"%%gpt --tools{option}\nHow many rows?").success
    first, second = server.chat_requests
    assert first.body["tools"] == chat_tools() and second.body["tools"] == chat_tools()
    call, result = second.body["messages"][-2:]
    assert call == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_fake1_0", "type": "function", "function": DESCRIBE},
        ],
    }
    expected = describe(sales, "sales", Options())
    assert result == {"role": "tool", "tool_call_id": "call_fake1_0", "content": expected}
    assert final(outputs)["data"]["text/plain"] == ANSWER
    assert final(outputs)["data"]["text/markdown"].startswith(f"> {SUMMARY}\n\n{ANSWER}")


def test_the_usage_of_every_round_is_summed_into_one_record(shell, server, sales):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    prompt = sum(prompt_tokens(r.body["messages"]) for r in server.chat_requests)
    completion = len(tokenize(ANSWER))  # the call itself is counted as no text
    [record] = session(shell).usage.records
    assert record.usage == Usage(prompt, completion, prompt + completion)


def estimated_prompt(messages) -> int:
    """gptmagic's estimate of a prompt as the server received it: each message's content,
    and the name and arguments of each call it carries."""
    calls = [c["function"] for m in messages for c in m.get("tool_calls") or ()]
    contents = sum(message_tokens(m.get("content") or "") for m in messages)
    return contents + sum(estimate_tokens(c["name"] + c["arguments"]) for c in calls)


def test_with_no_usage_reported_the_estimate_covers_every_round(shell, server, outputs, sales):
    """The estimate counted the first prompt only: not the second request, which carries
    the call and its result (a whole table here), nor the call's arguments."""
    said = "Let me look."
    server.enqueue(
        Reply(text=said, tool_calls=[DESCRIBE], usage="never"), Reply(text=ANSWER, usage="never")
    )
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    first, second = (r.body["messages"] for r in server.chat_requests)
    prompt = estimated_prompt(first) + estimated_prompt(second)
    assert estimated_prompt(second) > 5 * estimated_prompt(first)  # the result dominates
    call = estimate_tokens(DESCRIBE["name"] + DESCRIBE["arguments"])
    completion = estimate_tokens(said) + call + estimate_tokens(ANSWER)
    [record] = session(shell).usage.records
    assert record.usage is None
    assert record.estimate == Usage(prompt, completion, prompt + completion)
    footer = final(outputs)["metadata"]["gptmagic"]["footer"]
    assert f"usage not reported by the server (≈{prompt + completion:,} tokens, estimate)" in footer


def test_with_no_usage_reported_a_cell_without_tools_estimates_its_one_request(
    shell, server, sales
):
    server.enqueue(Reply(text=ANSWER, usage="never"))
    assert run(shell, "%%gpt\nHow many rows?").success
    [request] = server.chat_requests
    prompt, completion = estimated_prompt(request.body["messages"]), estimate_tokens(ANSWER)
    [record] = session(shell).usage.records
    assert record.estimate == Usage(prompt, completion, prompt + completion)


def test_the_token_budget_holds_between_tool_rounds(shell, server, sales):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    first = prompt_tokens([{"role": "user", "content": "How many rows?"}])
    run(shell, f"%config GPTMagic.token_budget = {first}")  # the first round reaches it
    result = run(shell, "%%gpt --tools\nHow many rows?")
    assert "Token budget reached during the tool rounds" in str(result.error_in_exec)
    assert len(server.chat_requests) == 1  # the second round was never sent
    [record] = session(shell).usage.records
    assert record.usage.total_tokens == first  # the first round is counted
    assert not session(shell).conversation.turns


def test_a_budget_not_reached_lets_the_rounds_go_on(shell, server, sales):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    first = prompt_tokens([{"role": "user", "content": "How many rows?"}])
    run(shell, f"%config GPTMagic.token_budget = {first + 1}")
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    assert len(server.chat_requests) == 2


def test_history_and_provenance_hold_the_call_and_a_follow_up_sends_it_again(
    shell, server, outputs, sales
):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["tool_calls"] == [
        {
            "name": "describe_variable",
            "arguments": {"name": "sales"},
            "ok": True,
            "summary": SUMMARY,
        }
    ]
    assert meta["parameters"]["tools"] is True
    [turn] = session(shell).conversation.turns
    assert [m.role for m in turn.messages] == ["user", "assistant", "tool", "assistant"]
    assert turn.steps[1].meta["summary"] == SUMMARY and turn.assistant.content == ANSWER
    sent = server.chat_requests[1].body["messages"]
    assert run(shell, "%%gpt\nAnd the columns?").success
    follow_up = server.chat_requests[2].body["messages"]
    assert follow_up[:3] == sent and follow_up[3]["content"] == ANSWER
    assert "tools" not in server.chat_requests[2].body


def test_history_shows_each_call_as_its_summary(shell, server, outputs, sales):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    run(shell, "%%gpt --tools\nHow many rows?")
    run(shell, "%gpt history")
    shown = final(outputs)["data"]["text/markdown"]
    assert f"### Tools\n\n> {SUMMARY}\n\n" in shown
    assert "Columns (dtype)" not in shown  # the tool's output is not repeated


def test_the_responses_api_sends_function_call_items_and_their_output(
    shell, server, outputs, sales
):
    run(shell, "%config GPTMagic.api = 'responses'")
    server.enqueue(Reply(tool_calls=[DESCRIBE], endpoint="responses"), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    first, second = server.responses_requests
    assert first.body["tools"] == responses_tools()
    assert second.body["input"][1:] == [
        {"type": "function_call", "call_id": "call_fake1_0", **DESCRIBE},
        {
            "type": "function_call_output",
            "call_id": "call_fake1_0",
            "output": describe(sales, "sales", Options()),
        },
    ]
    assert final(outputs)["data"]["text/plain"] == ANSWER
    assert SUMMARY in final(outputs)["data"]["text/markdown"]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
def test_arguments_sent_as_an_object_not_a_json_text_are_read(
    shell, server, outputs, sales, stream
):
    """Text Generation Inference (and llama.cpp for a while) send a call's arguments as a
    JSON object, not the JSON text OpenAI sends: the call runs, and goes back as text."""
    call = {"name": "describe_variable", "arguments": {"name": "sales"}}
    server.enqueue(Reply(tool_calls=[call]), Reply(text=ANSWER))
    option = "" if stream else " --no-stream"
    assert run(shell, f"%%gpt --tools{option}\nHow many rows?").success
    asked, result = server.chat_requests[1].body["messages"][-2:]
    assert asked["tool_calls"][0]["function"] == DESCRIBE
    assert result["content"] == describe(sales, "sales", Options())
    assert final(outputs)["data"]["text/markdown"].startswith(f"> {SUMMARY}\n\n{ANSWER}")


def test_the_responses_api_sends_the_words_beside_the_calls_before_them(
    shell, server, outputs, sales
):
    """The model's "Let me look." is part of its turn: the next request gives it back as an
    assistant item ahead of its function_call, as the model wrote them."""
    run(shell, "%config GPTMagic.api = 'responses'")
    said = Reply(text="Let me look.", tool_calls=[DESCRIBE], endpoint="responses")
    server.enqueue(said, Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    second = server.responses_requests[1]
    assert second.body["input"][1:3] == [
        {"role": "assistant", "content": "Let me look."},
        {"type": "function_call", "call_id": "call_fake1_0", **DESCRIBE},
    ]


def test_the_settings_tools_trait_turns_tools_on_for_every_cell(shell, server, sales):
    assert run(shell, "%%gpt\nhello").success
    assert "tools" not in server.chat_requests[-1].body
    run(shell, "%config GPTMagic.tools = True")
    server.enqueue(Reply(text=ANSWER))
    assert run(shell, "%%gpt\nhello").success
    assert server.chat_requests[-1].body["tools"] == chat_tools()


def test_an_unknown_variable_goes_back_to_the_model_as_an_error_not_a_failure(
    shell, server, outputs, sales
):
    call = {"name": "describe_variable", "arguments": '{"name": "nosuch"}'}
    server.enqueue(Reply(tool_calls=[call]), Reply(text="There is no such variable."))
    assert run(shell, "%%gpt --tools\nDescribe nosuch").success
    result = server.chat_requests[1].body["messages"][-1]
    assert result["content"] == (
        "Error: No variable 'nosuch' in the kernel. list_variables shows the names."
    )
    [listed] = final(outputs)["metadata"]["gptmagic"]["tool_calls"]
    assert listed["ok"] is False and listed["summary"].endswith("→ error: no variable 'nosuch'")


def test_a_secret_in_a_variable_is_masked_in_what_is_sent_and_kept(shell, server, outputs):
    shell.user_ns["config"] = {"endpoint": "https://api.example.com", "key": KEY}
    call = {"name": "describe_variable", "arguments": '{"name": "config"}'}
    server.enqueue(Reply(tool_calls=[call]), Reply(text="It holds an endpoint and a key."))
    assert run(shell, "%%gpt --tools\nWhat is in config?").success
    result = server.chat_requests[1].body["messages"][-1]["content"]
    assert "'endpoint': 'https://api.example.com'" in result and KEY not in result
    kept = json_of(session(shell).conversation)
    assert "api.example.com" in kept and KEY not in kept


def json_of(conversation) -> str:
    from gptmagic.export import to_json

    return to_json(conversation)


# -- the round limit -------------------------------------------------------------------------
LISTING = {"name": "list_variables", "arguments": "{}"}


def test_past_the_round_limit_calls_are_answered_with_the_limit_and_the_model_answers(
    shell, server, outputs, sales
):
    server.enqueue(*[Reply(tool_calls=[LISTING]) for _ in range(MAX_ROUNDS + 1)])
    server.enqueue(Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nLook around").success
    requests = server.chat_requests
    assert len(requests) == MAX_ROUNDS + 2
    results = [m["content"] for m in requests[-1].body["messages"] if m["role"] == "tool"]
    assert len(results) == MAX_ROUNDS + 1
    assert all(" in the kernel (modules, " in r and "| sales |" in r for r in results[:MAX_ROUNDS])
    assert results[MAX_ROUNDS] == ROUND_LIMIT_OUTPUT
    lines = final(outputs)["metadata"]["gptmagic"]["tool_calls"]
    assert [c["ok"] for c in lines] == [True] * MAX_ROUNDS + [False]
    assert lines[-1]["summary"] == "🔧 list_variables() → not run (tool round limit)"
    assert final(outputs)["data"]["text/plain"] == ANSWER


class Counted:
    """A user's object whose repr (user code, maybe slow) counts how often it ran."""

    reprs = 0

    def __repr__(self):
        Counted.reprs += 1
        return "Counted()"


def test_calls_past_the_round_limit_are_not_run(shell, server, outputs):
    shell.user_ns["thing"] = Counted()
    Counted.reprs = 0
    described = {"name": "describe_variable", "arguments": '{"name": "thing"}'}
    server.enqueue(*[Reply(tool_calls=[described]) for _ in range(MAX_ROUNDS + 1)])
    server.enqueue(Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nLook at thing").success
    assert Counted.reprs == MAX_ROUNDS  # the sixth round's call was answered, never run
    results = [m for m in server.chat_requests[-1].body["messages"] if m["role"] == "tool"]
    assert [r["content"] for r in results] == ["Counted()"] * MAX_ROUNDS + [ROUND_LIMIT_OUTPUT]
    lines = final(outputs)["metadata"]["gptmagic"]["tool_calls"]
    assert lines[-1] == {
        "name": "describe_variable",
        "arguments": {"name": "thing"},
        "ok": False,
        "summary": "🔧 describe_variable(thing) → not run (tool round limit)",
    }


def test_at_most_twenty_calls_of_one_answer_are_run_the_rest_are_answered_not_run(
    shell, server, outputs, sales
):
    """A model (or a prompt injected through the data) asking for 200 tables at once sent
    a 735 kB request back (≈280k prompt tokens); the calls past the cap read nothing."""
    reads = []

    class Counted:
        def __repr__(self):
            reads.append(1)
            return "counted"

    shell.user_ns["counted"] = Counted()
    describe = {"name": "describe_variable", "arguments": '{"name": "counted"}'}
    server.enqueue(Reply(tool_calls=[describe] * (MAX_CALLS + 3)), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nLook at everything").success
    results = [
        m["content"] for m in server.chat_requests[1].body["messages"] if m["role"] == "tool"
    ]
    assert results == ["counted"] * MAX_CALLS + [CALL_LIMIT_OUTPUT] * 3
    assert len(reads) == MAX_CALLS
    lines = final(outputs)["metadata"]["gptmagic"]["tool_calls"]
    assert [c["ok"] for c in lines] == [True] * MAX_CALLS + [False] * 3
    assert lines[-1]["summary"] == (
        f"🔧 describe_variable(counted) → not run (at most {MAX_CALLS} calls per round)"
    )
    assert final(outputs)["data"]["text/plain"] == ANSWER


def test_a_model_that_never_stops_calling_tools_ends_with_a_clear_error(
    shell, server, outputs, capsys, sales
):
    server.enqueue(*[Reply(tool_calls=[LISTING]) for _ in range(MAX_ROUNDS + 5)])
    result = run(shell, "%%gpt --tools\nLook around")
    assert not result.success
    assert len(server.chat_requests) == MAX_ROUNDS + 2
    line = error_line(capsys)
    assert f"still called tools after the limit of {MAX_ROUNDS} tool rounds" in line
    assert "re-run" not in line
    assert session(shell).conversation.turns == []
    assert session(shell).usage.records[-1].usage.total_tokens > 0  # the rounds were billed


# -- servers and models without tools ------------------------------------------------------------
def test_a_model_without_tool_support_gives_one_line_and_stores_nothing(
    shell, server, outputs, capsys
):
    result = run(shell, "%%gpt --tools -m no-tools\nDescribe sales")
    assert not result.success
    assert error_line(capsys) == (
        f"UsageError: no-tools at {server.url.removeprefix('http://')} does not support tools "
        "(function calling): --tools needs a model with function calling. Ask without "
        "--tools, or choose another model with -m."
    )
    assert len(server.chat_requests) == 1 and session(shell).conversation.turns == []
    assert run(shell, "%%gpt -m no-tools\nDescribe sales").success  # without --tools: fine


UNOFFERED = (
    "the model asked to call tools that were not offered (describe_variable), so nothing was "
    "run; ask again with --tools to let it use the data tools, or re-run the cell"
)


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
@pytest.mark.parametrize("said", ["", "Let me look."], ids=["no-text", "text"])
def test_tool_calls_nobody_offered_are_not_run_and_nothing_is_stored(
    shell, server, outputs, capsys, sales, tmp_path, api, stream, said
):
    """Some servers return calls without tools in the request: not an answer, and not the
    "context too long" an empty answer suggests."""
    run(shell, f"%config GPTMagic.api = '{api}'")
    run(shell, f"%config GPTMagic.cache = '{tmp_path / 'c.jsonl'}'")
    server.enqueue(Reply(text=said or None, tool_calls=[DESCRIBE], endpoint=api))
    option = "" if stream else " --no-stream"
    assert not run(shell, f"%%gpt -o reply{option}\nHow many rows?").success
    assert len(server.requests) == 1  # no tool ran, no result went back
    shown = "The text so far is shown; it was not stored"
    if not said:
        shown = "No answer text arrived; nothing was stored"
    assert error_line(capsys) == f"UsageError: The answer is incomplete: {UNOFFERED}. {shown}."
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["status"] == "incomplete" and "tool_calls" not in meta
    stored = "Not stored in the history" if said else "No answer text arrived"
    assert meta["notes"] == [f"⚠ Incomplete: {UNOFFERED}. {stored}."]
    assert final(outputs)["data"]["text/plain"] == said
    assert session(shell).conversation.turns == [] and "reply" not in shell.user_ns
    assert not (tmp_path / "c.jsonl").exists() or not (tmp_path / "c.jsonl").read_text()


def test_a_finish_reason_tool_calls_without_a_call_is_incomplete_not_a_loop(
    shell, server, outputs, capsys, sales
):
    server.enqueue(Reply(text="Let me check.", finish_reason="tool_calls"))
    assert not run(shell, "%%gpt --tools\nHow many rows?").success
    assert len(server.chat_requests) == 1
    assert error_line(capsys) == (
        "UsageError: The answer is incomplete: the model ended its answer to call tools "
        "(finish_reason: tool_calls), but no tool call arrived. The text so far is shown; it "
        "was not stored; re-run the cell."
    )
    assert final(outputs)["data"]["text/plain"] == "Let me check."
    assert session(shell).conversation.turns == []


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
def test_tool_calls_cut_by_max_tokens_are_not_run_and_the_cell_is_incomplete(
    shell, server, outputs, capsys, sales, api, stream
):
    """finish_reason "length" while the model wrote its calls: the last one's arguments are
    cut (the server sends half), so no call is run and nothing goes back or is stored."""
    run(shell, f"%config GPTMagic.api = '{api}'")
    server.enqueue(Reply(tool_calls=[DESCRIBE], finish_reason="length", endpoint=api))
    option = "" if stream else " --no-stream"
    assert not run(shell, f"%%gpt --tools --max-tokens 40{option}\nHow many rows?").success
    assert len(server.requests) == 1  # no result went back
    assert error_line(capsys) == (
        "UsageError: The answer is incomplete: the answer was cut (finish_reason: length, "
        "max_tokens = 40) while the model was writing its tool calls (describe_variable), so "
        "none was run; raise --max-tokens and re-run. No answer text arrived; nothing was "
        "stored."
    )
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["status"] == "incomplete" and "tool_calls" not in meta
    assert "🔧" not in final(outputs)["data"]["text/markdown"]
    assert session(shell).conversation.turns == []


def responses_event(kind: str, **fields) -> str:
    return json.dumps({"type": kind, **fields})


def test_a_response_naming_a_call_it_never_sent_is_incomplete(shell, server, outputs, capsys):
    """The Responses API: the finished response lists a function call no stream event gave."""
    run(shell, "%config GPTMagic.api = 'responses'")
    call = {"type": "function_call", "call_id": "call_1", **DESCRIBE}
    response = {"status": "completed", "output": [call], "model": "gpt-4o-mini"}
    server.enqueue(Reply(raw_chunks=[responses_event("response.completed", response=response)]))
    assert not run(shell, "%%gpt --tools\nHow many rows?").success
    assert len(server.responses_requests) == 1
    assert error_line(capsys) == (
        "UsageError: The answer is incomplete: the model ended its answer to call tools "
        "(finish_reason: tool_calls), but no tool call arrived. No answer text arrived; "
        "nothing was stored; re-run the cell."
    )
    assert final(outputs)["metadata"]["gptmagic"]["status"] == "incomplete"
    assert session(shell).conversation.turns == []


def test_tools_with_several_answers_are_refused_before_sending(shell, server, capsys):
    assert not run(shell, "%%gpt --tools -n 2\nhello").success
    assert "-n 2 cannot go with it" in error_line(capsys) and server.chat_requests == []


# -- interrupts ----------------------------------------------------------------------------
def test_ctrl_c_during_a_tool_round_stops_the_cell_and_stores_nothing(
    shell, server, outputs, capsys, sales
):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER, stall=30))
    watcher = interrupt_when_shown(outputs, "🔧 describe_variable")
    result = run(shell, "%%gpt --tools --no-stream\nHow many rows?")
    watcher.join(5)
    assert not result.success
    assert error_line(capsys) == (
        "UsageError: Interrupted before any text arrived; nothing was stored in the history."
    )
    shown = final(outputs)
    assert shown["metadata"]["gptmagic"]["status"] == "interrupted"
    assert shown["data"]["text/markdown"].startswith(
        f"> ⏹ Interrupted before any text arrived (nothing stored).\n\n> {SUMMARY}\n\n<sub>"
    )
    assert session(shell).conversation.turns == []
    [record] = session(shell).usage.records  # the first round was billed
    assert record.usage.prompt_tokens == prompt_tokens(server.chat_requests[0].body["messages"])
    server.enqueue(Reply(text="still here"))
    assert run(shell, "%%gpt\nstill there?").success


@pytest.mark.parametrize("fault", ["interrupted", "incomplete"])
def test_a_later_round_cut_short_is_counted_as_an_estimate(shell, server, outputs, sales, fault):
    """The second request (the question, the calls and their results) was billed though the
    server never reported it: like any answer cut short, its estimate counts toward the
    kernel total and token_budget; the first round counts as reported."""
    text = [f"word{i} " for i in range(100)]
    if fault == "interrupted":
        server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=text, chunk_delay=0.2))
        interrupt_when(outputs.when_shown("word9"))  # the second round has begun
    else:
        server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=text, drop_after=1))
    assert not run(shell, "%%gpt --tools\nHow many rows?").success
    first, second = server.chat_requests
    cut, reported = session(shell).usage.records  # the cut round's is added as it ends
    assert reported.usage.prompt_tokens == prompt_tokens(first.body["messages"])
    prompt = estimated_prompt(second.body["messages"])  # the call's arguments included
    completion = estimate_tokens(final(outputs)["data"]["text/plain"])  # the text so far
    assert (cut.status, cut.usage) == (fault, None)
    assert cut.estimate == Usage(prompt, completion, prompt + completion)
    total = reported.usage.total_tokens + prompt + completion
    assert session(shell).usage.total.total_tokens == total
    footer = f"kernel total {total:,} (≈{prompt + completion:,} of them estimated)"
    assert footer in final(outputs)["data"]["text/markdown"]


@pytest.mark.parametrize("fault", ["interrupted", "incomplete"])
def test_a_later_round_cut_short_is_in_the_cells_own_token_count(
    shell, server, outputs, sales, fault
):
    """The footer and the history line say what the whole cell cost: the rounds reported plus
    the estimate of the round cut short, not the reported rounds alone (which read as if the
    cut round had cost nothing while the kernel total rose by it)."""
    text = [f"word{i} " for i in range(100)]
    if fault == "interrupted":
        server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=text, chunk_delay=0.2))
        interrupt_when(outputs.when_shown("word9"))
    else:
        server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=text, drop_after=1))
    assert not run(shell, "%%gpt --tools\nHow many rows?").success
    cut, reported = session(shell).usage.records
    paid, guessed = reported.usage.total_tokens, cut.estimate.total_tokens
    assert paid > 0 and guessed > 0
    spent = (
        f"gpt-4o-mini · ≈{paid + guessed:,} tokens ({paid:,} reported + ≈{guessed:,} for the "
        f"{fault} round, never reported: estimate, counted) · kernel total"
    )
    assert spent in final(outputs)["data"]["text/markdown"]
    if fault == "interrupted":  # kept in the history, whose line says the same
        assert run(shell, "%gpt history").success
        line = f"≈{paid + guessed:,} tokens ({paid:,} reported + ≈{guessed:,} estimate)"
        assert line in final(outputs)["data"]["text/markdown"]


# -- replay, save and load -------------------------------------------------------------------------
def test_a_replayed_tools_cell_shows_the_same_lines_without_any_request_or_tool(
    shell, server, outputs, sales, tmp_path
):
    run(shell, f"%config GPTMagic.cache = '{tmp_path / 'c.jsonl'}'")
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    recorded = final(outputs)["data"]["text/markdown"]
    run(shell, "%gpt reset")
    server.reset()
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    del shell.user_ns["sales"]  # a tool run now would answer "No variable"
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    assert server.requests == []
    replayed = final(outputs)["data"]["text/markdown"]
    assert replayed.startswith("> ↻ Replayed from c.jsonl")
    assert replayed.split("\n\n<sub>")[0].endswith(f"> {SUMMARY}\n\n{ANSWER}")
    assert recorded.split("\n\n<sub>")[0].split("\n\n")[-1] == ANSWER
    assert final(outputs)["data"]["text/plain"] == ANSWER
    [turn] = session(shell).conversation.turns
    assert turn.steps[1].content.startswith("`sales`: pandas DataFrame, 96 rows")


def test_save_and_load_json_restores_the_tool_steps(shell, server, sales, tmp_path):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    run(shell, "%%gpt --tools\nHow many rows?")
    before = json_of(session(shell).conversation)
    path = tmp_path / "talk.json"
    assert run(shell, f"%gpt save {path}").success
    run(shell, "%gpt reset")
    assert run(shell, f"%gpt load {path}").success
    assert json_of(session(shell).conversation) == before
    [turn] = session(shell).conversation.turns
    assert turn.steps[0].tool_calls == [{"id": "call_fake1_0", **DESCRIBE}]
    assert turn.steps[1].tool_call_id == "call_fake1_0"


@pytest.mark.parametrize("suffix", [".md", ".ipynb"])
def test_markdown_and_notebook_show_the_summaries_and_load_back_the_answers(
    shell, server, sales, tmp_path, suffix
):
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    run(shell, "%%gpt --tools\nHow many rows?")
    path = tmp_path / f"talk{suffix}"
    assert run(shell, f"%gpt save {path}").success
    assert SUMMARY in path.read_text() and "Columns (dtype)" not in path.read_text()
    run(shell, "%gpt reset")
    assert run(shell, f"%gpt load {path}").success
    [turn] = session(shell).conversation.turns
    assert (turn.user.content, turn.assistant.content, turn.steps) == ("How many rows?", ANSWER, [])


def test_a_loaded_tool_call_keeps_only_its_id_name_and_arguments(shell, tmp_path):
    call = {"id": "call_1", **DESCRIBE, "note": "added by hand", "type": "function"}
    steps = [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "96 rows", "tool_call_id": "call_1"},
    ]
    turn = {"user": {"role": "user", "content": "hi"}, "steps": steps}
    turn["assistant"] = {"role": "assistant", "content": "ok"}
    data = {"format": "gptmagic.conversation", "version": 1, "system": "", "turns": [turn]}
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    assert run(shell, f"%gpt load {path}").success
    assert run(shell, f"%gpt save {path}").success
    saved = json.loads(path.read_text())["turns"][0]["steps"][0]["tool_calls"]
    assert saved == [{"id": "call_1", **DESCRIBE}]


def test_loading_a_tool_result_that_answers_no_call_is_refused(shell, tmp_path, capsys):
    user = {"role": "user", "content": "hi"}
    result = {"role": "tool", "content": "x", "tool_call_id": "call_9"}
    answer = {"role": "assistant", "content": "ok"}
    data = {"format": "gptmagic.conversation", "version": 1, "system": "", "turns": []}
    data["turns"].append({"user": user, "steps": [result], "assistant": answer})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert not run(shell, f"%gpt load {path}").success
    assert "a tool result answers no call before it ('call_9')" in error_line(capsys)
    assert session(shell).conversation.turns == []


# -- the local server ----------------------------------------------------------------------------
def test_unscripted_the_server_describes_the_backticked_name_then_quotes_the_tool(
    shell, server, outputs, sales
):
    assert run(shell, "%%gpt --tools\nWhat is in `sales`?").success
    _, second = server.chat_requests
    assert second.body["messages"][1]["tool_calls"][0]["function"] == DESCRIBE
    assert final(outputs)["data"]["text/plain"].endswith(
        "The data tools say: `sales`: pandas DataFrame, 96 rows × 3 columns"
    )


def test_the_server_refuses_a_tool_message_that_answers_no_call(server):
    sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    with sdk, pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_1", "content": "x"},
            ],
        )
    assert refused.value.body["param"] == "messages.[1].role"


def test_several_calls_in_one_answer_each_get_their_result_in_order(shell, server, sales):
    counts = {"name": "value_counts", "arguments": '{"name": "sales", "column": "region"}'}
    server.enqueue(Reply(tool_calls=[DESCRIBE, counts]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nDescribe sales and count its regions").success
    call, *results = server.chat_requests[1].body["messages"][1:]
    assert [c["id"] for c in call["tool_calls"]] == ["call_fake1_0", "call_fake1_1"]
    assert [r["tool_call_id"] for r in results] == ["call_fake1_0", "call_fake1_1"]
    assert results[0]["content"] == describe(sales, "sales", Options())
    assert "| north | 24 |" in results[1]["content"]


# -- what the model says beside its calls, and the terminal ----------------------------------
SAID = "Let me look at `sales` first."
COUNTS = {"name": "value_counts", "arguments": '{"name": "sales", "column": "region"}'}
COUNTED = "🔧 value_counts(sales, column=region, top=20) → 4 distinct values"


def said_then_called(endpoint: str = "chat") -> list[Reply]:
    """Two rounds, each with text beside its call, then the answer."""
    return [
        Reply(text=SAID, tool_calls=[DESCRIBE], endpoint=endpoint),
        Reply(text="Now the regions.", tool_calls=[COUNTS], endpoint=endpoint),
        Reply(text=ANSWER, endpoint=endpoint),
    ]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_text_beside_tool_calls_is_shown_in_the_final_output_where_it_was_said(
    shell, server, outputs, sales, api
):
    run(shell, f"%config GPTMagic.api = '{api}'")
    server.enqueue(*said_then_called(api))
    assert run(shell, "%%gpt --tools\nHow many rows per region?").success
    shown = final(outputs)["data"]["text/markdown"]
    assert shown.split("\n\n<sub>")[0] == (
        f"{SAID}\n\n> {SUMMARY}\n\nNow the regions.\n\n> {COUNTED}\n\n{ANSWER}"
    )
    assert final(outputs)["data"]["text/plain"] == ANSWER  # the answer alone, as without tools
    assert final(outputs)["metadata"]["gptmagic"]["notes"] == []  # the calls are not notes


def test_without_text_beside_the_calls_there_is_no_empty_paragraph(shell, server, outputs, sales):
    server.enqueue(Reply(text="  \n", tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    shown = final(outputs)["data"]["text/markdown"]
    assert shown.split("\n\n<sub>")[0] == f"> {SUMMARY}\n\n{ANSWER}"


def test_text_beside_tool_calls_is_kept_exported_and_replayed_in_place(
    shell, server, outputs, sales, tmp_path
):
    run(shell, f"%config GPTMagic.cache = '{tmp_path / 'c.jsonl'}'")
    server.enqueue(*said_then_called())
    assert run(shell, "%%gpt --tools\nHow many rows per region?").success
    [turn] = session(shell).conversation.turns
    assert [m.content for m in turn.steps if m.role == "assistant"] == [SAID, "Now the regions."]
    exchange = f"{SAID}\n\n> {SUMMARY}\n\nNow the regions.\n\n> {COUNTED}"
    path = tmp_path / "talk.md"
    assert run(shell, f"%gpt save {path}").success
    assert f"### Tools\n\n{exchange}\n\n" in path.read_text()
    run(shell, "%gpt reset")
    server.reset()
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt --tools\nHow many rows per region?").success
    assert server.requests == []
    replayed = final(outputs)["data"]["text/markdown"].split("\n\n<sub>")[0]
    assert replayed.split("\n\n", 1)[1] == f"{exchange}\n\n{ANSWER}"  # after the replay note


@pytest.mark.parametrize("replayed", [False, True], ids=["live", "replayed"])
def test_a_terminal_prints_each_tool_call_line_once_in_order(
    shell, server, sales, capsys, tmp_path, replayed
):
    run(shell, "%config GPTMagic.display = 'text'")
    run(shell, f"%config GPTMagic.cache = '{tmp_path / 'c.jsonl'}'")
    server.enqueue(*said_then_called())
    assert run(shell, "%%gpt --tools\nHow many rows per region?").success
    if replayed:
        capsys.readouterr()
        run(shell, "%gpt reset")
        run(shell, "%config GPTMagic.cache_mode = 'replay'")
        assert run(shell, "%%gpt --tools\nHow many rows per region?").success
    out = capsys.readouterr().out
    assert out.count(SUMMARY) == 1 and out.count(COUNTED) == 1 and out.count(SAID) == 1
    assert out.index(SAID) < out.index(SUMMARY) < out.index("Now the regions.")
    assert out.index("Now the regions.") < out.index(COUNTED) < out.index(ANSWER)


def test_a_key_the_model_echoes_beside_its_calls_is_masked_in_the_output_and_history(
    shell, server, outputs, sales
):
    server.enqueue(Reply(text=f"Using {KEY} to look.", tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    assert KEY not in final(outputs)["data"]["text/markdown"]
    assert KEY not in json_of(session(shell).conversation)
    assert final(outputs)["data"]["text/markdown"].startswith("Using *** to look.\n\n> ")


# -- the order on screen while the rounds run ---------------------------------------------------
def shown_at_each_step(monkeypatch, outputs) -> list[tuple[str, str]]:
    """What the cell shows (its displays joined) as each tool runs and each request is sent."""
    import gptmagic.tools
    from gptmagic.chat import ChatCell

    seen: list[tuple[str, str]] = []
    run_tool, ask = gptmagic.tools.run_tool, ChatCell.open

    def running(*args, **kwargs):
        seen.append(("tool", "".join(outputs.markdown())))
        return run_tool(*args, **kwargs)

    def asking(self, body, view):
        seen.append(("ask", "".join(outputs.markdown())))
        return ask(self, body, view)

    monkeypatch.setattr(gptmagic.tools, "run_tool", running)
    monkeypatch.setattr(ChatCell, "open", asking)
    return seen


def test_the_words_before_a_call_and_its_line_are_on_screen_while_the_rounds_run(
    shell, server, outputs, sales, monkeypatch
):
    """The live display is paced (an update every 1/8 s at most): without a flush the words
    and lines of a round waited for the next answer's text, however long the tools took."""
    seen = shown_at_each_step(monkeypatch, outputs)
    server.enqueue(*said_then_called())
    assert run(shell, "%%gpt --tools\nHow many rows per region?").success
    first, second = f"{SAID}\n\n> {SUMMARY}\n\n", f"Now the regions.\n\n> {COUNTED}\n\n"
    assert seen == [
        ("ask", ""),
        ("tool", SAID),
        ("ask", first),
        ("tool", first + "Now the regions."),
        ("ask", first + second),
    ]


def test_a_key_the_model_ends_its_words_with_is_never_shown_by_the_flush(
    shell, server, outputs, sales, monkeypatch
):
    """The flush before the calls holds back a tail that may begin the key, as streaming does;
    the lines that follow show it is not going on, and it is masked with them."""
    seen = shown_at_each_step(monkeypatch, outputs)
    said = ["Checking with ", KEY[:9], KEY[9:16]]  # "sk-test-DISTINCT": the key's beginning
    server.enqueue(Reply(text=said, tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    lines = f"Checking with ***\n\n> {SUMMARY}\n\n"
    assert seen[1:] == [("tool", "Checking with "), ("ask", lines)]
    assert KEY[:8] not in json.dumps(outputs.messages)
    [turn] = session(shell).conversation.turns
    assert turn.steps[0].content == "Checking with ***"


# -- a key the model sends back in a call ---------------------------------------------------------
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_key_the_model_puts_in_a_calls_name_or_arguments_is_kept_nowhere(
    shell, server, outputs, sales, tmp_path, api
):
    """The tool reads the arguments as sent (here a column named like the key), but the call
    the cell keeps (lines, metadata, history, exports, replay cache) is masked like the answer."""
    cache = tmp_path / "c.jsonl"
    run(shell, f"%config GPTMagic.api = '{api}'")
    run(shell, f"%config GPTMagic.cache = '{cache}'")
    shell.user_ns["frame"] = pd.DataFrame({KEY: ["a", "b", "a"]})
    calls = [
        {"name": "describe_variable", "arguments": json.dumps({"name": KEY})},
        {"name": f"read_{KEY}", "arguments": "{}"},
        {"name": "value_counts", "arguments": json.dumps({"name": "frame", "column": KEY})},
    ]
    server.enqueue(Reply(tool_calls=calls, endpoint=api), Reply(text=ANSWER, endpoint=api))
    assert run(shell, "%%gpt --tools\nCount the values in frame").success
    listed = final(outputs)["metadata"]["gptmagic"]["tool_calls"]
    assert [(c["name"], c["arguments"], c["ok"]) for c in listed] == [
        ("describe_variable", {"name": "***"}, False),
        ("read_***", {}, False),
        ("value_counts", {"name": "frame", "column": "***"}, True),  # it ran on the real column
    ]
    counted = server.requests[1].body
    assert "| a | 2 |" in json.dumps(counted)  # the result went back
    [turn] = session(shell).conversation.turns
    assert [(c["name"], c["arguments"]) for c in turn.steps[0].tool_calls] == [
        ("describe_variable", '{"name": "***"}'),
        ("read_***", "{}"),
        ("value_counts", '{"name": "frame", "column": "***"}'),
    ]
    for suffix in (".json", ".md", ".ipynb"):
        assert run(shell, f"%gpt save {tmp_path / ('talk' + suffix)}").success
    kept = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert set(kept) == {"c.jsonl", "talk.json", "talk.md", "talk.ipynb"}
    kept |= {
        "displayed": json.dumps(outputs.messages),
        "history": json_of(session(shell).conversation),
        "sent back": json.dumps(counted),
    }
    for where, text in kept.items():
        assert KEY[:12] not in text, where


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_key_the_model_puts_in_a_call_id_is_kept_nowhere(
    shell, server, outputs, sales, tmp_path, api
):
    """The call id is the model's text too: one holding the key is replaced by a numbered id
    in what is sent back and kept, and the result still answers that call."""
    cache = tmp_path / "c.jsonl"
    run(shell, f"%config GPTMagic.api = '{api}'")
    run(shell, f"%config GPTMagic.cache = '{cache}'")
    calls = [{**DESCRIBE, "id": f"call_{KEY}"}, {**DESCRIBE, "id": "call_plain"}]
    server.enqueue(Reply(tool_calls=calls, endpoint=api), Reply(text=ANSWER, endpoint=api))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    sent_back = server.requests[1].body
    [turn] = session(shell).conversation.turns
    assert [c["id"] for c in turn.steps[0].tool_calls] == ["call_1_0", "call_plain"]
    assert [step.tool_call_id for step in turn.steps[1:]] == ["call_1_0", "call_plain"]
    assert run(shell, f"%gpt save {tmp_path / 'talk.json'}").success
    kept = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert set(kept) == {"c.jsonl", "talk.json"}
    kept |= {
        "displayed": json.dumps(outputs.messages),
        "history": json_of(session(shell).conversation),
        "sent back": json.dumps(sent_back),
    }
    for where, text in kept.items():
        assert KEY[:12] not in text, where


# -- the lines read as written ---------------------------------------------------------------
def quoted(markdown: str) -> list[str]:
    """The text a reader sees in each quoted line of ``markdown`` (rendered as nbconvert does)."""
    from tests.test_inert_html import shown_text

    return [shown_text(f"> {line}") for line in re.findall(r"^> (🔧.*)$", markdown, re.M)]


def test_a_call_line_shows_the_arguments_as_the_model_wrote_them(shell, server, outputs, sales):
    """Markdown would show ``_raw_`` as *raw* in italics and ``a*b*`` as a with b in
    italics: the line would not say what the model asked for."""
    private = {"name": "describe_variable", "arguments": '{"name": "_raw_"}'}
    starred = {"name": "value_counts", "arguments": '{"name": "sales", "column": "*units*"}'}
    server.enqueue(Reply(tool_calls=[private, starred]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nLook around.").success
    summaries = [c["summary"] for c in final(outputs)["metadata"]["gptmagic"]["tool_calls"]]
    assert summaries[0] == "🔧 describe_variable(_raw_) → error: private name"
    assert summaries[1].startswith("🔧 value_counts(sales, column=*units*, top=20) → error")
    assert quoted(final(outputs)["data"]["text/markdown"]) == summaries
    live = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m]
    assert quoted(live[-2]) == summaries  # the last live update, before the final output
    run(shell, "%gpt history")
    assert quoted(final(outputs)["data"]["text/markdown"]) == summaries


# -- the kernel's context settings and state reach the tools -----------------------------------
def tool_result(server) -> str:
    """The content of the last tool message the second request sent back."""
    return server.chat_requests[1].body["messages"][-1]["content"]


def test_describe_variable_shows_as_many_rows_as_context_rows(shell, server, sales):
    run(shell, "%config GPTMagic.context_rows = 2")
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    assert tool_result(server) == describe(sales, "sales", Options(rows=2))
    assert "First 2 rows:" in tool_result(server)


def test_describe_variable_adds_summary_statistics_with_context_stats(shell, server, sales):
    run(shell, "%config GPTMagic.context_stats = True")
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    assert tool_result(server) == describe(sales, "sales", Options(stats=True))
    assert "Summary statistics:" in tool_result(server)


def test_a_tool_output_is_capped_at_context_max_chars(shell, server, sales):
    run(shell, "%config GPTMagic.context_max_chars = 200")
    rows = {"name": "show_rows", "arguments": '{"name": "sales", "count": 50}'}
    server.enqueue(Reply(tool_calls=[rows]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nShow the rows").success
    full = run_tool("show_rows", rows["arguments"], {"sales": sales}, options=Options(10**6))
    assert len(full.output) > 1000
    assert tool_result(server) == (
        f"{full.output[:200]}… [truncated: {len(full.output) - 200:,} more characters]"
    )


def test_last_error_reads_the_exception_the_kernel_last_raised(shell, server, sales):
    failed = run(shell, "{}['missing']")
    assert not failed.success
    server.enqueue(
        Reply(tool_calls=[{"name": "last_error", "arguments": "{}"}]), Reply(text=ANSWER)
    )
    assert run(shell, "%%gpt --tools\nWhy did it fail?").success
    assert tool_result(server).startswith(
        f"The last exception in the kernel (cell [{failed.execution_count}]): KeyError: 'missing'"
    )


# -- calls a server sends without ids ----------------------------------------------------------
def test_calls_sent_without_ids_get_one_id_each_and_their_results_answer_them(shell, server, sales):
    """The id is made up from the round and the call's position when the server sends none."""
    calls = [{"type": "function", "function": DESCRIBE}, {"type": "function", "function": COUNTS}]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    body = {"id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini"}
    server.enqueue(Reply(raw_body=json.dumps(body | {"choices": [choice]})), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools --no-stream\nDescribe sales and count its regions").success
    asked, *results = server.chat_requests[1].body["messages"][1:]
    assert [c["id"] for c in asked["tool_calls"]] == ["call_1_0", "call_1_1"]
    assert [r["tool_call_id"] for r in results] == ["call_1_0", "call_1_1"]
    assert "| north | 24 |" in results[1]["content"]


# -- what the metadata lists of a call's arguments ---------------------------------------------
def test_a_call_sent_with_empty_arguments_is_listed_with_none(shell, server, outputs, sales):
    """Some servers send "" for a call without arguments."""
    server.enqueue(Reply(tool_calls=[{"name": "list_variables", "arguments": ""}]))
    server.enqueue(Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nWhat is here?").success
    [listed] = final(outputs)["metadata"]["gptmagic"]["tool_calls"]
    assert listed == {
        "name": "list_variables",
        "arguments": {},
        "ok": True,
        "summary": "🔧 list_variables() → 1 variable",
    }


def test_a_call_with_malformed_arguments_is_listed_with_them_as_sent(shell, server, outputs, sales):
    broken = {"name": "describe_variable", "arguments": '{"name": "sales"'}
    server.enqueue(Reply(tool_calls=[broken]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    [listed] = final(outputs)["metadata"]["gptmagic"]["tool_calls"]
    assert (listed["arguments"], listed["ok"]) == ('{"name": "sales"', False)
    assert listed["summary"] == "🔧 describe_variable() → error: malformed JSON"


# -- a hand-edited recording -------------------------------------------------------------------
def test_a_recorded_call_without_ok_is_skipped_with_a_warning_and_asked_again(
    shell, server, outputs, sales, tmp_path, capsys
):
    """A line that cannot be replayed never fails a cell: the question is asked afresh."""
    cache = tmp_path / "c.jsonl"
    run(shell, f"%config GPTMagic.cache = '{cache}'")
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    record = json.loads(cache.read_text())
    del record["answer"]["tool_rounds"][0]["calls"][0]["ok"]
    cache.write_text(json.dumps(record) + "\n")
    run(shell, "%gpt reset")
    server.reset()
    capsys.readouterr()
    server.enqueue(Reply(tool_calls=[DESCRIBE]), Reply(text=ANSWER))
    assert run(shell, "%%gpt --tools\nHow many rows?").success
    assert len(server.chat_requests) == 2  # asked again, not replayed
    assert f"skipped 1 unreadable line(s) of the replay cache {cache} (line 1)" in (
        capsys.readouterr().err
    )
    assert final(outputs)["metadata"]["gptmagic"]["tool_calls"][0]["ok"] is True


# -- a server that refuses tool_choice ---------------------------------------------------------
def test_a_400_naming_tool_choice_says_the_model_does_not_support_tools(shell, server, capsys):
    error = {
        "message": "tool_choice is not supported by this server",
        "type": "invalid_request_error",
        "param": "tool_choice",
        "code": None,
    }
    server.enqueue(Reply(status=400, error={"error": error}))
    assert not run(shell, "%%gpt --tools\nDescribe sales").success
    assert error_line(capsys) == (
        f"UsageError: gpt-4o-mini at {server.url.removeprefix('http://')} does not support "
        "tools (function calling): --tools needs a model with function calling. Ask without "
        "--tools, or choose another model with -m."
    )
    assert session(shell).conversation.turns == []
