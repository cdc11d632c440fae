"""Every outcome told truthfully: malformed chunks, split emoji, empty and cut answers,
context overflows, the usage of interrupted and replayed answers, console frontends.

Malformed streams are scripted byte for byte with ``Reply(raw_chunks=...)`` and go over real
HTTP through the real ``openai`` SDK.
"""

from __future__ import annotations

import json

import pytest

from gptmagic.testing.server import Reply
from tests.conftest import run

HEAD = {"id": "chatcmpl-raw", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def chunk(content: str | None = None, finish: str | None = None, index: int = 0, **extra) -> str:
    delta = {} if content is None else {"content": content}
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return json.dumps({**HEAD, "choices": [choice], **extra})


def raw(**fields) -> str:
    """A chunk with the given top-level fields (whatever their shape)."""
    return json.dumps({**HEAD, **fields})


def choice(**fields) -> str:
    return raw(choices=[{"index": 0, "delta": {}, "finish_reason": None, **fields}])


GOOD = [chunk("Hello"), chunk(" world")]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("UsageError:")]
    assert len(lines) == 1, err
    return lines[0]


def magic(shell):
    return shell.magics_manager.registry["GPTMagic"]


def turns(shell):
    return magic(shell).session.conversation.turns


def ledger(shell):
    return magic(shell).session.usage


def final(outputs) -> dict:
    return outputs.outputs[-1]


def markdown(outputs) -> str:
    return final(outputs)["data"]["text/markdown"]


def footer(outputs) -> str:
    return markdown(outputs).rsplit("<sub>", 1)[1]


# -- 8: malformed chunks end the answer as incomplete, the text so far kept ---------------
MALFORMED = {
    "choices is a string": (raw(choices="abc"), "'choices' is 'abc', not a list"),
    "content is a number": (chunk(5), "'content' is 5, not str"),
    "index is null": (chunk("!", index=None), "'index' is None"),
    "index is a bool": (chunk("!", index=False), "'index' is False, not int"),
    "index beyond n": (chunk("!", index=3), "'index' is 3, not an answer number below n = 1"),
    "delta is a string": (choice(delta="abc"), "'abc' where an object was expected"),
    "finish_reason is a number": (choice(finish_reason=7), "'finish_reason' is 7, not str"),
    "chunk is a number": ("5", "5 where an object was expected"),
    "chunk is a list": ("[1, 2]", "[1, 2] where an object was expected"),
    "invalid UTF-8": (b'{"choices": [{"index": 0, "delta": {"content": "\xff"}}]}', "not UTF-8"),
}


@pytest.mark.parametrize("bad, why", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_chunk_ends_the_answer_incomplete_with_the_text_so_far(
    shell, server, outputs, capsys, bad, why
):
    assert run(shell, "%%gpt\nfirst").success
    server.enqueue(Reply(raw_chunks=[*GOOD, bad, chunk(" never shown", "stop"), "[DONE]"]))
    result = run(shell, "%%gpt\nhello")
    line = error_line(capsys)
    assert not result.success
    assert line.startswith("UsageError: The answer is incomplete: the server sent a malformed")
    assert why in line
    assert final(outputs)["data"]["text/plain"] == "Hello world"
    assert final(outputs)["metadata"]["gptmagic"]["status"] == "incomplete"
    assert len(turns(shell)) == 1
    assert run(shell, "%%gpt\nstill there?").success and len(turns(shell)) == 2


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "abc", "completion_tokens": 2, "total_tokens": 3},
        {"prompt_tokens": 1e999, "completion_tokens": 2, "total_tokens": 3},
        "lots",
    ],
    ids=["strings", "infinite", "not an object"],
)
def test_an_unreadable_usage_report_is_ignored_with_a_note(shell, server, outputs, usage):
    server.enqueue(Reply(raw_chunks=[*GOOD, chunk(finish="stop"), raw(choices=[], usage=usage)]))
    assert run(shell, "%%gpt\nhello").success
    assert final(outputs)["data"]["text/plain"] == "Hello world"
    assert "usage report could not be read" in markdown(outputs)
    assert final(outputs)["metadata"]["gptmagic"]["usage"] is None
    assert ledger(shell).total.total_tokens == 0 and ledger(shell).unreported == 1
    assert turns(shell)[-1].assistant.content == "Hello world"


def test_a_malformed_non_streamed_answer_is_one_line_and_stores_nothing(shell, server, capsys):
    body = {**HEAD, "object": "chat.completion", "choices": [{"index": 0, "message": 5}]}
    server.enqueue(Reply(raw_body=json.dumps(body)))
    result = run(shell, "%%gpt --no-stream\nhello")
    line = error_line(capsys)
    assert not result.success and "sent an answer gptmagic cannot read" in line
    assert "5 where an object was expected" in line
    assert turns(shell) == []


@pytest.mark.parametrize(
    "output, why",
    [
        (["text"], "'text' where an object was expected"),
        ([{"type": "message", "role": "assistant", "content": "hi"}], "'content' is 'hi'"),
        ([{"type": "reasoning", "summary": ["why"]}], "'why' where an object was expected"),
    ],
    ids=["item", "content", "summary part"],
)
def test_a_malformed_non_streamed_responses_answer_is_one_line_and_stores_nothing(
    shell, server, capsys, output, why
):
    run(shell, "%config GPTMagic.api = 'responses'")
    body = {"id": "resp_1", "object": "response", "status": "completed", "output": output}
    server.enqueue(Reply(raw_body=json.dumps(body)))
    result = run(shell, "%%gpt --no-stream\nhello")
    line = error_line(capsys)
    assert not result.success and "sent an answer gptmagic cannot read" in line
    assert why in line and "AttributeError" not in line
    assert turns(shell) == []


# -- 8: lone surrogates are joined across chunks or replaced, never crash -------------------
def saved_notebook_bytes(outputs) -> bytes:
    """What a kernel sends and a notebook stores: UTF-8 JSON (fails on a lone surrogate)."""
    return json.dumps(outputs.outputs, ensure_ascii=False).encode("utf-8")


def test_an_emoji_split_into_surrogate_halves_across_chunks_is_joined(
    shell, server, outputs, tmp_path
):
    halves = [chunk("Smile "), chunk("\ud83d"), chunk("\ude00"), chunk("!", "stop")]
    server.enqueue(Reply(raw_chunks=halves))
    assert run(shell, "%%gpt\nsmile").success
    assert final(outputs)["data"]["text/plain"] == "Smile \U0001f600!"
    saved_notebook_bytes(outputs)
    assert turns(shell)[-1].assistant.content == "Smile \U0001f600!"
    assert run(shell, f"%gpt save {tmp_path / 'chat.json'}").success
    assert "\U0001f600" in (tmp_path / "chat.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "pieces, shown",
    [
        (["a\ud83d", "b"], "a\ufffdb"),  # a high half followed by no low half
        (["a", "\ude00b"], "a\ufffdb"),  # a low half with no high half before it
        (["a\ud83d"], "a\ufffd"),  # a high half at the end of the answer
        (["a\ud83d\ud83db"], "a\ufffd\ufffdb"),  # two high halves inside one chunk
    ],
)
def test_a_lone_surrogate_is_replaced_and_the_answer_stays_usable(
    shell, server, outputs, pieces, shown
):
    server.enqueue(Reply(raw_chunks=[*map(chunk, pieces), chunk(finish="stop")]))
    assert run(shell, "%%gpt\nhello").success
    assert final(outputs)["data"]["text/plain"] == shown
    saved_notebook_bytes(outputs)
    assert turns(shell)[-1].assistant.content == shown


# -- 16: an answer that finished with no text is not a success -----------------------------
def test_an_empty_answer_fails_the_cell_and_is_not_stored(shell, server, outputs, capsys, tmp_path):
    cache = tmp_path / "answers.gptcache.jsonl"
    run(shell, f"%config GPTMagic.cache = {str(cache)!r}")
    assert run(shell, "%%gpt\nfirst").success
    server.enqueue(Reply(text=""))
    result = run(shell, "%%gpt -o answer\nsay nothing")
    line = error_line(capsys)
    assert not result.success
    assert "returned an empty answer (finish_reason: stop, no text)" in line
    assert "context" in line and "%gpt reset" in line and "--no-history" in line
    assert final(outputs)["metadata"]["gptmagic"]["status"] == "empty"
    assert "Empty answer" in markdown(outputs)
    assert len(turns(shell)) == 1
    assert "answer" not in shell.user_ns
    assert len(cache.read_text().splitlines()) == 1  # only the first answer was recorded
    assert ledger(shell).records[-1].usage.prompt_tokens > 0  # billed all the same


def test_a_whitespace_only_answer_counts_as_empty(shell, server, capsys):
    server.enqueue(Reply(text="\n\n"))
    assert not run(shell, "%%gpt\nhello").success
    assert "empty answer" in error_line(capsys)
    assert turns(shell) == []


def test_with_n_an_empty_first_answer_keeps_the_next_one(shell, server, outputs):
    server.enqueue(Reply(text=""))  # answer 1 is "", answer 2 is " (variant 1)"
    assert run(shell, "%%gpt -n 2\nhello").success
    assert "Answer 1 came back empty; answer 2 is kept in the history." in markdown(outputs)
    assert turns(shell)[-1].assistant.content == " (variant 1)"


def test_with_n_the_cell_fails_only_when_every_answer_is_empty(shell, server, capsys):
    chunks = [chunk(finish="stop", index=0), chunk(finish="stop", index=1)]
    server.enqueue(Reply(raw_chunks=chunks))
    assert not run(shell, "%%gpt -n 2\nhello").success
    assert "empty answer" in error_line(capsys)
    assert turns(shell) == []


def test_an_empty_answer_cut_by_max_tokens_says_to_raise_it(shell, server, capsys):
    server.enqueue(Reply(raw_chunks=[chunk(finish="length")]))
    assert not run(shell, "%%gpt --max-tokens 5\nthink hard").success
    line = error_line(capsys)
    assert "max_tokens = 5 was used up before any text" in line and "--max-tokens" in line


# -- 17: what cut an answer, and prompts longer than the context ---------------------------
def test_an_answer_cut_without_max_tokens_names_the_context_not_max_tokens(shell, server, outputs):
    server.enqueue(Reply(tokens=30, finish_reason="length"))
    assert run(shell, "%%gpt\nwrite a lot").success
    note = markdown(outputs)
    assert "max_tokens = None" not in note
    assert "no max_tokens was set" in note and "context window" in note
    assert "%gpt reset" in note and "--no-history" in note


def test_an_answer_cut_by_max_tokens_names_the_number(shell, server, outputs):
    assert run(shell, "%%gpt --max-tokens 3\nwrite a lot").success
    assert "cut by max_tokens = 3 (finish_reason: length)" in markdown(outputs)
    assert "no max_tokens was set" not in markdown(outputs)


CONTEXT_ERRORS = {
    "openai": {
        "error": {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
    "llama.cpp": {
        "error": {
            "code": 400,
            "message": "request (9000 tokens) exceeds the available context size (8192 tokens)",
            "type": "exceed_context_size_error",
        }
    },
}


@pytest.mark.parametrize("body", CONTEXT_ERRORS.values(), ids=CONTEXT_ERRORS.keys())
def test_a_prompt_longer_than_the_context_says_how_to_shorten_it(shell, server, capsys, body):
    assert run(shell, "%%gpt\nfirst").success
    server.enqueue(Reply(status=400, error=body))
    assert not run(shell, "%%gpt\na very long prompt").success
    line = error_line(capsys)
    assert "too long for gpt-4o-mini" in line and body["error"]["message"] in line
    assert "%gpt reset" in line and "--no-history" in line and "history_max_tokens" in line
    assert "re-run the cell" not in line
    assert len(turns(shell)) == 1


def test_a_context_error_inside_a_stream_is_not_blamed_on_the_connection(shell, server, capsys):
    error = json.dumps(CONTEXT_ERRORS["openai"])
    server.enqueue(Reply(raw_chunks=[chunk("Hel"), error]))
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert "too long for gpt-4o-mini" in line and "%gpt reset" in line
    assert "dropped" not in line and "re-run the cell" not in line


def test_a_stream_that_ends_with_nothing_does_not_just_say_re_run(shell, server, capsys):
    server.enqueue(Reply(raw_chunks=[]))  # llama.cpp's way to refuse a too long prompt
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert "ended its answer without sending anything" in line
    assert "context" in line and "%gpt reset" in line and "connection dropped" not in line
    assert line.endswith("No answer text arrived; nothing was stored.")  # no "text so far"


def test_a_stream_cut_mid_answer_still_says_re_run(shell, server, capsys):
    server.enqueue(Reply(tokens=20, drop_after=5))
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert "dropped mid-answer" in line
    assert line.endswith("The text so far is shown; it was not stored; re-run the cell.")


# -- 22: an interrupted answer was billed: marked interrupted, its estimate counted ----------
@pytest.fixture
def interrupt_on_first_text(outputs, monkeypatch):
    """Ctrl-C as the first text reaches the screen: no timer, the same point every run."""
    publish = outputs.publish

    def interrupting(data, *args, **kwargs):
        if "Lorem" in data.get("text/markdown", ""):
            monkeypatch.setattr(outputs, "publish", publish)
            raise KeyboardInterrupt
        return publish(data, *args, **kwargs)

    monkeypatch.setattr(outputs, "publish", interrupting)


def test_an_interrupted_answer_is_marked_and_its_estimate_counted(
    shell, server, outputs, capsys, interrupt_on_first_text
):
    server.enqueue(Reply(tokens=200, chunk_delay=0.001))
    assert not run(shell, "%%gpt\ntell me a story").success
    assert "Interrupted" in error_line(capsys)
    record = ledger(shell).records[-1]
    assert record.status == "interrupted" and record.usage is None
    partial = final(outputs)["data"]["text/plain"]
    assert partial == "Lorem "
    # the prompt "tell me a story" (4 + 4 overhead) and the text so far (2 tokens)
    assert (record.estimate.prompt_tokens, record.estimate.completion_tokens) == (8, 2)
    assert ledger(shell).total.total_tokens == 10 and ledger(shell).estimated == 10
    shown = footer(outputs)
    assert "not reported by the server" not in shown
    assert "≈10 tokens (interrupted, never reported: estimate, counted)" in shown
    assert "kernel total 10 (≈10 of them estimated)" in shown
    assert final(outputs)["metadata"]["gptmagic"]["estimated_usage"]["total_tokens"] == 10


def test_an_interrupted_answer_says_interrupted_in_history_and_usage(
    shell, server, capsys, interrupt_on_first_text
):
    server.enqueue(Reply(tokens=200, chunk_delay=0.001))
    run(shell, "%%gpt\ntell me a story")
    capsys.readouterr()
    run(shell, "%gpt history")
    history = shell.display_pub.outputs[-1]["data"]["text/plain"]
    assert "finish: interrupted" in history and "finish: None" not in history
    assert "≈10 tokens (estimate)" in history
    run(shell, "%gpt usage")
    table = shell.display_pub.outputs[-1]["data"]["text/plain"]
    assert "| ≈8 | ≈2 | ≈10 | interrupted: estimated (never reported), counted |" in table
    assert "| **kernel** | | | **8** | **2** | **10** | ≈10 estimated |" in table
    assert "server that reports no usage" not in table


def test_an_interrupted_answer_counts_toward_the_token_budget(
    shell, server, capsys, interrupt_on_first_text
):
    run(shell, "%config GPTMagic.token_budget = 10")
    server.enqueue(Reply(tokens=200, chunk_delay=0.001))
    run(shell, "%%gpt\ntell me a story")
    capsys.readouterr()
    server.reset()
    assert not run(shell, "%%gpt\nagain").success
    assert "Token budget reached: this kernel used 10 (≈10 of them estimated)" in error_line(capsys)
    assert server.chat_requests == []


def test_a_broken_stream_counts_its_estimate_too(shell, server):
    server.enqueue(Reply(tokens=20, drop_after=5))
    run(shell, "%%gpt\nhello")
    record = ledger(shell).records[-1]
    assert record.status == "incomplete"
    assert ledger(shell).total.total_tokens == record.estimate.total_tokens > 0


def test_a_complete_answer_without_reported_usage_is_still_not_counted(shell, server, outputs):
    server.enqueue(Reply(usage="never"))
    assert run(shell, "%%gpt\nhello").success
    assert ledger(shell).total.total_tokens == 0 and ledger(shell).unreported == 1
    assert "usage not reported by the server" in footer(outputs)


# -- 23: replayed answers are not billed: shown apart, kept out of the total and budget -----
@pytest.fixture
def recorded(shell, tmp_path):
    """A cache holding the answer to "%%gpt --no-history hello", and a zeroed ledger."""
    run(shell, f"%config GPTMagic.cache = {str(tmp_path / 'answers.gptcache.jsonl')!r}")
    assert run(shell, "%%gpt --no-history\nhello").success
    recorded = ledger(shell).records[-1].usage.total_tokens
    run(shell, "%gpt usage --reset")
    return recorded


def test_a_replayed_answer_adds_nothing_to_the_kernel_total(shell, server, outputs, recorded):
    server.reset()
    assert run(shell, "%%gpt --no-history\nhello").success
    assert server.chat_requests == []
    assert ledger(shell).total.total_tokens == 0
    assert ledger(shell).replayed.total_tokens == recorded
    assert f"replayed ({recorded} tokens when recorded): not billed" in footer(outputs)
    assert "kernel total 0<" in footer(outputs)


def test_replayed_answers_are_shown_apart_in_the_usage_table(shell, recorded):
    run(shell, "%%gpt --no-history\nhello")
    run(shell, "%gpt usage")
    table = shell.display_pub.outputs[-1]["data"]["text/plain"]
    assert "replayed: not billed, not in the total" in table
    assert f"1 answer(s) were replayed from the cache ({recorded} tokens as recorded)" in table
    assert "| **kernel** | | | **0** | **0** | **0** |" in table


def test_replays_never_reach_the_token_budget(shell, recorded):
    run(shell, "%config GPTMagic.token_budget = 1")
    for _ in range(3):
        assert run(shell, "%%gpt --no-history\nhello").success
    assert ledger(shell).total.total_tokens == 0


def test_a_replayed_image_adds_nothing_to_the_kernel_total(shell, server, tmp_path, outputs):
    run(shell, f"%config GPTMagic.cache = {str(tmp_path / 'answers.gptcache.jsonl')!r}")
    assert run(shell, "%gptimage --size 256x256 a red fox").success
    billed = ledger(shell).total.total_tokens
    assert billed > 0
    assert run(shell, "%gptimage --size 256x256 a red fox").success
    assert ledger(shell).total.total_tokens == billed
    assert ledger(shell).records[-1].status == "replayed"
    assert "replayed: not billed" in outputs.outputs[-1]["data"]["text/plain"]


# -- why an answer stopped, the same through either API -------------------------------------
FILTERED = (
    "⚠ The server's content filter stopped the answer (finish_reason: content_filter): the "
    "text above ends where it was cut."
)
UNEXPLAINED = (
    "⚠ The server ended the response incomplete without saying why (status: incomplete, no "
    "incomplete_details.reason): the text above may be cut short."
)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_answer_stopped_by_the_content_filter_says_so_in_one_line(shell, server, outputs, api):
    run(shell, f"%config GPTMagic.api = '{api}'")
    server.enqueue(Reply(text=["Partly", " said"], finish_reason="content_filter"))
    assert run(shell, "%%gpt\nhello").success
    shown = markdown(outputs)
    assert shown.count(FILTERED) == 1 and "Partly said" in shown
    assert UNEXPLAINED not in shown and "max_tokens" not in shown


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_answer_that_stopped_normally_has_no_stop_note(shell, server, outputs, api):
    run(shell, f"%config GPTMagic.api = '{api}'")
    assert run(shell, "%%gpt\nhello").success
    shown = markdown(outputs)
    assert FILTERED not in shown and UNEXPLAINED not in shown and "⚠" not in shown


def responses_event(kind: str, **fields) -> str:
    return json.dumps({"type": kind, **fields})


def test_a_response_incomplete_without_a_reason_says_it_may_be_cut(shell, server, outputs):
    run(shell, "%config GPTMagic.api = 'responses'")
    response = {"status": "incomplete", "incomplete_details": None, "output": []}
    server.enqueue(
        Reply(
            raw_chunks=[
                responses_event("response.output_text.delta", delta="Hal"),
                responses_event("response.incomplete", response=response),
            ]
        )
    )
    assert run(shell, "%%gpt\nhello").success
    shown = markdown(outputs)
    assert shown.count(UNEXPLAINED) == 1 and "Hal" in shown
    assert FILTERED not in shown and "max_tokens" not in shown


def test_an_empty_response_incomplete_without_a_reason_does_not_claim_a_finish_reason(
    shell, server, capsys
):
    run(shell, "%config GPTMagic.api = 'responses'")
    response = {"status": "incomplete", "incomplete_details": None, "output": []}
    server.enqueue(Reply(raw_chunks=[responses_event("response.incomplete", response=response)]))
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert "(status: incomplete, no incomplete_details.reason, no text)" in line
    assert "finish_reason" not in line
    assert turns(shell) == []


# -- finish reasons other servers send ---------------------------------------------------------
CUT_WITHOUT_MAX_TOKENS = "✂ The answer was cut short (finish_reason: length) though no max_tokens"


@pytest.mark.parametrize("sent", ["max_tokens", "MAX_TOKENS", "model_length"])
def test_another_servers_name_for_a_cut_answer_is_told_as_cut(shell, server, outputs, sent):
    server.enqueue(Reply(raw_chunks=[chunk("Hal"), chunk(finish=sent)]))
    assert run(shell, "%%gpt\nhello").success
    shown = markdown(outputs)
    assert shown.count(CUT_WITHOUT_MAX_TOKENS) == 1
    assert "does not know" not in shown


@pytest.mark.parametrize("sent", ["eos_token", "stop_sequence", "end_turn", "STOP"])
def test_another_servers_name_for_a_normal_stop_gets_no_note(shell, server, outputs, sent):
    server.enqueue(Reply(raw_chunks=[chunk("Hello"), chunk(finish=sent)]))
    assert run(shell, "%%gpt\nhello").success
    assert "⚠" not in markdown(outputs) and "✂" not in markdown(outputs)
    [turn] = turns(shell)
    assert turn.assistant.content == "Hello"
    assert turn.assistant.meta["finish_reason"] == "stop"


def test_an_unfamiliar_finish_reason_is_named_and_the_answer_kept(shell, server, outputs):
    server.enqueue(Reply(raw_chunks=[chunk("Hello"), chunk(finish="recitation_check")]))
    assert run(shell, "%%gpt\nhello").success
    assert (
        markdown(outputs).count(
            "⚠ The server ended the answer for a reason gptmagic does not know "
            "('recitation_check'): the text above may be cut short."
        )
        == 1
    )
    [turn] = turns(shell)
    assert turn.assistant.content == "Hello"


@pytest.mark.parametrize("sent", ["abort", "insufficient_system_resource"])
def test_an_answer_the_server_gave_up_on_is_incomplete_and_not_stored(
    shell, server, outputs, capsys, sent
):
    server.enqueue(Reply(raw_chunks=[chunk("Hal"), chunk(finish=sent)]))
    assert not run(shell, "%%gpt\nhello").success
    assert error_line(capsys) == (
        "UsageError: The answer is incomplete: the server gave up on the answer "
        f"(finish_reason: {sent}). "
        "The text so far is shown; it was not stored; re-run the cell."
    )
    assert "Hal" in markdown(outputs)
    assert "does not know" not in markdown(outputs)
    assert turns(shell) == []
