"""Fault injection: every API failure leaves a clear line, a usable kernel, a consistent history.

Each test scripts the local server (real HTTP, real status codes and broken streams), runs a
%%gpt cell, and checks four things: the message shown, what the history holds, how many
requests were made, and that the next cell still works.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading

import pytest

from gptmagic import cache
from gptmagic.testing.server import Reply
from tests.conftest import KEY, interrupt_when, run


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("UsageError:")]
    assert lines, err
    assert "Traceback" not in err
    return lines[-1]


def turns(shell):
    return shell.magics_manager.registry["GPTMagic"].session.conversation.turns


def still_works(shell, server):
    before = len(turns(shell))
    assert run(shell, "%%gpt\nare you still there?").success
    assert len(turns(shell)) == before + 1
    return server.chat_requests[-1].body["messages"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def established(shell, server):
    """A conversation with one complete turn, so tests can check it survives failures."""
    assert run(shell, "%%gpt\nfirst question").success
    server.reset()
    return shell


def test_bad_key_names_the_variable_and_never_shows_the_key(established, server, capsys):
    server.enqueue(Reply(status=401))
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success
    assert "rejected the API key (401)" in line and "OPENAI_API_KEY" in line
    assert KEY not in line
    assert len(turns(established)) == 1
    assert len(server.chat_requests) == 1
    still_works(established, server)


def test_forbidden_says_which_settings_to_check(established, server, capsys):
    server.enqueue(Reply(status=403))
    run(established, "%%gpt\nhello")
    assert "refused access (403)" in error_line(capsys)
    assert len(turns(established)) == 1


def test_unknown_model_suggests_listing_models(established, server, capsys):
    result = run(established, "%%gpt -m no-such-model\nhello")
    line = error_line(capsys)
    assert not result.success and "'no-such-model' was not found" in line
    assert "%gpt models" in line
    messages = still_works(established, server)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]


def test_bad_request_shows_the_servers_message(established, server, capsys):
    server.enqueue(
        Reply(status=400, error={"error": {"message": "messages[1] is too long", "code": None}})
    )
    run(established, "%%gpt\nhello")
    assert "refused the request (400): messages[1] is too long" in error_line(capsys)


def test_a_key_echoed_by_the_server_is_redacted(established, server, capsys):
    server.enqueue(Reply(status=400, error={"error": {"message": f"bad header Bearer {KEY}"}}))
    run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert KEY not in line and "Bearer ***" in line


def test_rate_limit_is_retried_honouring_retry_after(established, server, capsys, outputs):
    established.run_line_magic("config", "GPTMagic.max_retries = 2")
    server.enqueue(Reply(status=429, headers={"Retry-After": "0"}), Reply(status=429))
    result = run(established, "%%gpt\nhello")
    assert result.success
    assert len(server.chat_requests) == 3
    assert len(turns(established)) == 2
    shown = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m]
    assert any("answered 429; retrying in 0 s (retry 1 of 2)" in text for text in shown)


@pytest.mark.parametrize("value", ["garbage", "-1", "nan"])
def test_an_unreadable_retry_after_is_retried_with_the_backoff(
    established, server, capsys, outputs, value
):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(Reply(status=429, headers={"Retry-After": value}))
    result = run(established, "%%gpt\nhello")
    assert result.success, capsys.readouterr().err
    assert len(server.chat_requests) == 2
    assert len(turns(established)) == 2
    shown = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m]
    retry = [text for text in shown if "retrying" in text]
    assert len(retry) == 1 and "answered 429; retrying in " in retry[0]
    assert retry[0].split("retrying in ")[1].split(" s")[0] in ("0", "1")  # 0.5 s ± 25 %


def test_connection_errors_are_retried_and_counted(established, capsys, outputs):
    port = closed_port()
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    established.run_line_magic("config", f"GPTMagic.base_url = 'http://127.0.0.1:{port}/v1'")
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success and f"Could not reach 127.0.0.1:{port} after 2 attempts" in line
    shown = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m]
    assert sum("could not be reached; retrying" in t and "(retry 1 of 1)" in t for t in shown) == 1


def test_rate_limit_that_persists_is_reported_with_the_attempts(established, server, capsys):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(*[Reply(status=429, headers={"Retry-After": "0"})] * 2)
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success and "Rate limited" in line and "after 2 attempts" in line
    assert len(server.chat_requests) == 2
    assert len(turns(established)) == 1


def test_quota_exhausted_is_not_retried(established, server, capsys):
    established.run_line_magic("config", "GPTMagic.max_retries = 3")
    body = {"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}}
    server.enqueue(Reply(status=429, error=body))
    run(established, "%%gpt\nhello")
    assert "quota" in error_line(capsys)
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_then_reported(established, server, capsys, status):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(*[Reply(status=status, headers={"Retry-After": "0"})] * 2)
    run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert f"failed with {status} after 2 attempts" in line and "try again later" in line
    assert len(server.chat_requests) == 2
    still_works(established, server)


def test_a_server_error_that_clears_is_invisible(established, server):
    established.run_line_magic("config", "GPTMagic.max_retries = 2")
    server.enqueue(Reply(status=503, headers={"Retry-After": "0"}))
    assert run(established, "%%gpt\nhello").success
    assert len(server.chat_requests) == 2


@pytest.fixture
def quick_back_off(monkeypatch):
    """Back-off without jitter: 0.375 s before the first retry (the policy's unit tests pin
    the rest)."""
    from gptmagic import retrying

    monkeypatch.setattr(retrying.random, "random", lambda: 0.0)


@pytest.mark.parametrize("status", [408, 409, 429, 504])
def test_each_transient_status_is_retried(established, server, status):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(Reply(status=status, headers={"Retry-After": "0"}))
    assert run(established, "%%gpt\nhello").success
    assert len(server.chat_requests) == 2 and len(turns(established)) == 2


def test_a_dropped_connection_before_the_answer_is_retried(established, server, quick_back_off):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(Reply(drop_after=0))
    assert run(established, "%%gpt --no-stream\nhello").success
    assert len(server.chat_requests) == 2 and len(turns(established)) == 2


def test_a_connection_that_keeps_failing_is_reported_with_the_attempts(
    established, server, capsys, quick_back_off
):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(Reply(drop_after=0), Reply(drop_after=0))
    assert not run(established, "%%gpt --no-stream\nhello").success
    host = server.url.removeprefix("http://")
    assert error_line(capsys).startswith(f"UsageError: Could not reach {host} after 2 attempts")
    assert len(server.chat_requests) == 2 and len(turns(established)) == 1


def test_a_timeout_before_the_answer_is_retried(established, server, quick_back_off):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    established.run_line_magic("config", "GPTMagic.timeout = 0.3")
    server.enqueue(Reply(stall=5))
    assert run(established, "%%gpt --no-stream\nhello").success
    assert len(server.chat_requests) == 2 and len(turns(established)) == 2


def test_connection_refused_names_the_host(established, capsys):
    port = closed_port()
    established.run_line_magic("config", f"GPTMagic.base_url = 'http://127.0.0.1:{port}/v1'")
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success and f"Could not reach 127.0.0.1:{port}" in line
    assert len(turns(established)) == 1


def test_timeout_before_the_answer_names_the_setting(established, server, capsys):
    established.run_line_magic("config", "GPTMagic.timeout = 0.3")
    server.enqueue(Reply(stall=2))
    run(established, "%%gpt --no-stream\nhello")
    line = error_line(capsys)
    assert "within 0.3 s" in line and "GPTMagic.timeout" in line
    assert len(turns(established)) == 1


def test_a_stalled_stream_keeps_the_partial_text_marked_incomplete(
    established, server, capsys, outputs
):
    established.run_line_magic("config", "GPTMagic.timeout = 0.3")
    server.enqueue(Reply(text="one two three four", stall=2))
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success and "incomplete" in line and "timeout" in line
    final = outputs.outputs[-1]
    assert final["data"]["text/plain"] == "one "
    assert final["metadata"]["gptmagic"]["status"] == "incomplete"
    assert "Incomplete" in final["data"]["text/markdown"]
    assert len(turns(established)) == 1


def test_a_dropped_stream_is_incomplete_and_not_stored(established, server, capsys, outputs):
    server.enqueue(Reply(tokens=50, drop_after=10))
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success and "incomplete" in line
    assert len(outputs.outputs[-1]["data"]["text/plain"].split()) == 10
    assert len(turns(established)) == 1
    assert len(server.chat_requests) == 1
    messages = still_works(established, server)
    assert len(messages) == 3


def test_a_broken_stream_sets_no_out_variable(established, server):
    server.enqueue(Reply(tokens=50, drop_after=10))
    assert not run(established, "%%gpt -o answer\nhello").success
    assert "answer" not in established.user_ns


def test_a_stream_that_ends_without_a_finish_reason_is_incomplete(
    established, server, capsys, outputs
):
    server.enqueue(Reply(text="half an answer", finish_reason=None))
    assert not run(established, "%%gpt\nhello").success
    assert "ended before the answer was finished" in error_line(capsys)
    assert outputs.outputs[-1]["metadata"]["gptmagic"]["status"] == "incomplete"
    assert len(turns(established)) == 1


def test_a_malformed_chunk_is_incomplete_and_not_stored(established, server, capsys, outputs):
    server.enqueue(Reply(tokens=20, malformed_after=5))
    run(established, "%%gpt\nhello")
    assert "malformed chunk" in error_line(capsys)
    assert outputs.outputs[-1]["metadata"]["gptmagic"]["status"] == "incomplete"
    assert len(turns(established)) == 1


def test_a_server_that_ignores_stream_and_sends_the_whole_answer_is_shown_and_stored(
    established, server, outputs
):
    """Some servers and gateways answer a streamed request with one JSON completion: that
    is the answer, not a stream that "ended without sending anything"."""
    server.enqueue(Reply(text="Hello there, all at once.", ignore_stream=True))
    assert run(established, "%%gpt -o reply\nhello").success
    assert server.chat_requests[-1].body["stream"] is True
    shown = outputs.outputs[-1]
    assert shown["data"]["text/plain"] == "Hello there, all at once."
    assert shown["metadata"]["gptmagic"]["status"] == "complete"
    assert shown["metadata"]["gptmagic"]["usage"]["completion_tokens"] == 5
    assert established.user_ns["reply"] == "Hello there, all at once."
    assert len(turns(established)) == 2


def test_a_whole_answer_that_is_not_json_is_one_line_and_not_stored(established, server, capsys):
    server.enqueue(Reply(raw_body="{not json", ignore_stream=True))
    assert not run(established, "%%gpt\nhello").success
    assert error_line(capsys).startswith(
        f"UsageError: {server.url.removeprefix('http://')} sent an answer gptmagic cannot "
        "read: a JSON answer that is not JSON ("
    )
    assert len(turns(established)) == 1
    still_works(established, server)


def test_max_tokens_is_renamed_for_models_that_refuse_it(established, server, outputs):
    assert run(established, "%%gpt -m o-strict --max-tokens 20\nhello").success
    first, second = server.chat_requests
    assert "max_tokens" in first.body and "max_completion_tokens" in second.body
    assert "sent max_completion_tokens instead" in outputs.markdown()[-1]


def test_a_learnt_adaptation_is_remembered_and_told_once(established, server, outputs):
    run(established, "%%gpt -m o-strict --max-tokens 20\nhello")
    server.reset()
    assert run(established, "%%gpt -m o-strict --max-tokens 20\nagain").success
    assert len(server.chat_requests) == 1
    assert server.chat_requests[0].body["max_completion_tokens"] == 20
    assert "max_completion_tokens" not in outputs.markdown()[-1].split("<sub>")[0]


def test_a_learnt_adaptation_applies_to_that_model_only(established, server):
    run(established, "%%gpt -m o-strict --max-tokens 20\nhello")
    server.reset()
    assert run(established, "%%gpt -m gpt-4o --max-tokens 20\nagain").success
    (request,) = server.chat_requests
    assert request.body["max_tokens"] == 20 and "max_completion_tokens" not in request.body


def test_temperature_is_dropped_for_models_that_only_take_the_default(established, server):
    assert run(established, "%%gpt -m o-fixed-temp -t 0.2\nhello").success
    assert "temperature" not in server.chat_requests[-1].body


def test_interrupt_keeps_the_partial_answer_marked_and_the_kernel_usable(
    established, server, capsys, outputs
):
    # The server sends one token, then holds the stream: Ctrl-C lands at a known point.
    server.enqueue(Reply(text="Once upon a time", stall=30))
    interrupt_when(server.when_sent(1), outputs.when_shown("Once"))
    result = run(established, "%%gpt\ntell me a long story")
    line = error_line(capsys)
    assert not result.success and "Interrupted" in line
    final = outputs.outputs[-1]
    assert final["data"]["text/plain"] == "Once "
    assert final["metadata"]["gptmagic"]["status"] == "interrupted"
    assert len(turns(established)) == 2
    stored = turns(established)[-1].assistant
    assert stored.content == "Once " and stored.meta["status"] == "interrupted"
    assert len(server.chat_requests) == 1
    messages = still_works(established, server)
    assert messages[-2]["content"] == "Once "


def test_interrupt_while_waiting_stores_nothing(established, server, capsys):
    server.enqueue(Reply(stall=30))
    interrupt_when(server.when_sent(0))
    result = run(established, "%%gpt --no-stream\nhello")
    assert not result.success
    assert error_line(capsys) == (  # the request was sent: only the history is untouched
        "UsageError: Interrupted before the answer started; nothing was stored in the history."
    )
    assert len(turns(established)) == 1
    still_works(established, server)


def test_missing_key_prompts_hidden_in_an_interactive_session(shell, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY)
    assert run(shell, "%gpt key").success
    assert run(shell, "%%gpt\nhello").success
    assert server.chat_requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_missing_key_without_a_terminal_is_a_clear_error(shell, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr("getpass.getpass", lambda prompt: (_ for _ in ()).throw(EOFError()))
    run(shell, "%config GPTMagic.base_url = 'https://api.example.invalid/v1'")
    result = run(shell, "%%gpt\nhello")
    assert not result.success and "No API key" in error_line(capsys)


def test_new_and_system_change_nothing_when_the_cell_fails(established, server, capsys):
    server.enqueue(Reply(status=500))
    run(established, "%%gpt --new -s 'Talk like a pirate.'\nhello")
    conversation = established.magics_manager.registry["GPTMagic"].session.conversation
    assert len(conversation.turns) == 1 and conversation.system == ""
    run(established, "%%gpt --new -s 'Talk like a pirate.' --dry-run\nhello")
    assert len(conversation.turns) == 1 and conversation.system == ""


def test_new_and_system_take_effect_with_the_answer(established, server):
    assert run(established, "%%gpt --new -s 'Talk like a pirate.'\nhello").success
    conversation = established.magics_manager.registry["GPTMagic"].session.conversation
    assert len(conversation.turns) == 1 and conversation.system == "Talk like a pirate."
    assert server.chat_requests[-1].body["messages"][0]["content"] == "Talk like a pirate."


# -- what a saved notebook holds after a failure ---------------------------------------------
TRANSIENT = ("Asking", "retrying", "Generating")


def transient_lines(outputs) -> list[str]:
    """Outputs a saved notebook would hold that only made sense while waiting."""
    texts = [
        str(o["data"].get("text/markdown", o["data"].get("text/plain", "")))
        for o in outputs.outputs
    ]
    return [t for t in texts if any(word in t for word in TRANSIENT)]


def interrupt_when_shown(outputs, text: str) -> threading.Thread:
    """Ctrl-C (a real SIGINT to the main thread) once an output containing ``text`` is shown.

    A signal that lands just before the main thread enters ``time.sleep`` is only acted on
    after the sleep (CPython checks for it at the next bytecode boundary), as a real Ctrl-C
    would be in that microsecond; so the SIGINT is repeated each second until the cell has
    shown that it stopped waiting (cleared its output, or said "Interrupted").
    """
    shown, stopped = threading.Event(), threading.Event()
    publish, clear = outputs.publish, outputs.clear_output

    def watching(data, *args, **kwargs):
        publish(data, *args, **kwargs)
        if text in str(data.get("text/markdown", "")):
            shown.set()
        if "Interrupted" in str(data.get("text/plain", "")):
            stopped.set()

    def clearing(*args, **kwargs):
        clear(*args, **kwargs)
        stopped.set()

    outputs.publish, outputs.clear_output = watching, clearing

    def fire():
        if shown.wait(20):
            while not stopped.is_set():
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                stopped.wait(1)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def test_a_refused_request_leaves_no_waiting_line(established, server, capsys, outputs):
    server.enqueue(Reply(status=401))
    assert not run(established, "%%gpt\nhello").success
    assert "401" in error_line(capsys)
    assert transient_lines(outputs) == []
    assert outputs.outputs == []


def test_a_rate_limit_that_exhausts_the_retries_leaves_no_waiting_line(
    established, server, capsys, outputs
):
    established.run_line_magic("config", "GPTMagic.max_retries = 2")
    server.enqueue(*[Reply(status=429, headers={"Retry-After": "0"})] * 3)
    assert not run(established, "%%gpt\nhello").success
    assert "after 3 attempts" in error_line(capsys)
    shown = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m]
    assert sum("retrying in 0 s" in text for text in shown) == 2  # they were shown…
    assert transient_lines(outputs) == []  # …and are gone


def test_a_connection_error_leaves_no_waiting_line(established, capsys, outputs):
    established.run_line_magic(
        "config", f"GPTMagic.base_url = 'http://127.0.0.1:{closed_port()}/v1'"
    )
    assert not run(established, "%%gpt\nhello").success
    assert "Could not reach" in error_line(capsys)
    assert transient_lines(outputs) == []


def test_a_timeout_leaves_no_waiting_line(established, server, capsys, outputs):
    established.run_line_magic("config", "GPTMagic.timeout = 0.3")
    server.enqueue(Reply(stall=2))
    assert not run(established, "%%gpt --no-stream\nhello").success
    assert "within 0.3 s" in error_line(capsys)
    assert transient_lines(outputs) == []


def test_ctrl_c_during_the_retry_wait_leaves_no_waiting_line(established, server, capsys, outputs):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(Reply(status=429, headers={"Retry-After": "30"}))
    watcher = interrupt_when_shown(outputs, "retrying in 30 s")
    result = run(established, "%%gpt\nhello")
    watcher.join(timeout=5)
    assert not result.success and "Interrupted before the answer started" in error_line(capsys)
    assert len(server.chat_requests) == 1  # the retry was never sent
    assert transient_lines(outputs) == []
    assert len(turns(established)) == 1


def test_a_missing_key_leaves_no_waiting_line(shell, outputs, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr("getpass.getpass", lambda prompt: (_ for _ in ()).throw(EOFError()))
    run(shell, "%config GPTMagic.base_url = 'https://api.example.invalid/v1'")
    assert not run(shell, "%%gpt\nhello").success
    assert "No API key" in error_line(capsys)
    assert transient_lines(outputs) == [] and outputs.outputs == []


def test_a_failed_image_request_leaves_only_its_outcome(established, server, capsys, outputs):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(*[Reply(endpoint="images", status=503, headers={"Retry-After": "0"})] * 2)
    outputs.outputs.clear()  # a new cell
    assert not run(established, "%gptimage a red fox").success
    assert "failed with 503 after 2 attempts" in error_line(capsys)
    assert transient_lines(outputs) == []
    (outcome,) = [o["data"]["text/plain"] for o in outputs.outputs]
    assert re.fullmatch(r"No image: the request failed after \d+ s\.", outcome)


def test_ctrl_c_during_an_image_retry_wait_leaves_only_its_outcome(
    established, server, capsys, outputs
):
    established.run_line_magic("config", "GPTMagic.max_retries = 1")
    server.enqueue(Reply(endpoint="images", status=429, headers={"Retry-After": "30"}))
    watcher = interrupt_when_shown(outputs, "retrying in 30 s")
    outputs.outputs.clear()  # a new cell
    result = run(established, "%gptimage a red fox")
    watcher.join(timeout=5)
    assert not result.success and "Interrupted" in error_line(capsys)
    assert transient_lines(outputs) == []
    (outcome,) = [o["data"]["text/plain"] for o in outputs.outputs]
    assert re.fullmatch(r"Interrupted after \d+ s: no image\.", outcome)


def test_an_image_that_cannot_be_recorded_is_shown_and_stops_waiting(
    shell, outputs, tmp_path, monkeypatch, capsys
):
    def disk_full(self, line):
        raise OSError(28, "No space left on device")

    run(shell, f"%config GPTMagic.cache = {str(tmp_path / 'answers.jsonl')!r}")
    monkeypatch.setattr(cache.CacheFile, "append", disk_full)
    assert not run(shell, "%gptimage -o fox a red fox").success
    assert "The answer is shown but could not be recorded" in error_line(capsys)
    assert transient_lines(outputs) == []
    assert [next(iter(o["data"])) for o in outputs.outputs] == ["image/png", "text/markdown"]
    assert shell.user_ns["fox"].startswith(b"\x89PNG")
    assert "gptmagic-progress" not in [t.name for t in threading.enumerate()]


def chat_chunk(text: str) -> str:
    delta = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [delta]})


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(
    "data",
    ['{"message": "overloaded, try later"}', '"overloaded, try later"', "overloaded, try later"],
)
def test_an_error_event_of_any_shape_ends_the_cell_with_the_servers_message(
    established, server, capsys, api, data
):
    """``event: error`` whose data has no "error" key was read past: the cell ended with the
    "nothing arrived … context" line (or "connection dropped" after some text)."""
    run(established, f"%config GPTMagic.api = '{api}'")
    server.enqueue(Reply(raw_chunks=[("error", data)]))
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success
    assert "APIError: overloaded, try later." in line and "context" not in line
    assert len(turns(established)) == 1  # nothing half stored
    run(established, "%config GPTMagic.api = 'chat'")
    still_works(established, server)


def test_an_error_event_after_some_text_keeps_it_incomplete_and_masks_the_key(
    established, server, capsys, outputs
):
    server.enqueue(Reply(raw_chunks=[chat_chunk("Half an "), ("error", f'{{"message": "{KEY}"}}')]))
    result = run(established, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success and KEY not in line and "APIError: ***." in line
    assert "incomplete" in line and "dropped" not in line
    assert outputs.outputs[-1]["data"]["text/plain"].startswith("Half an")
    assert len(turns(established)) == 1


def test_an_error_named_event_is_an_error_but_other_events_are_read_on(established, server):
    """Only ``event: error`` ends the answer: data of the same shape under another event
    name is an ordinary chunk, and the text around it is the answer."""
    stop = json.dumps({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    server.enqueue(
        Reply(
            raw_chunks=[
                chat_chunk("Hi"),
                ("ping", '{"message": "overloaded"}'),
                chat_chunk("!"),
                stop,
                "[DONE]",
            ]
        )
    )
    assert run(established, "%%gpt\nhello").success
    assert turns(established)[-1].assistant.content == "Hi!"
