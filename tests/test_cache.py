"""The replay cache: record answers once, replay them with no API call, in a real shell.

Every test talks to the local server over HTTP; "no API call" is checked on the server's own
request log.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from gptmagic.cache import CacheFile, request_key
from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import KEY, dispose_shell, interrupt_when, make_shell, run


@pytest.fixture
def cache(tmp_path, shell) -> Path:
    """A cache file in record mode for the shell."""
    path = tmp_path / "answers.gptcache.jsonl"
    run(shell, f"%config GPTMagic.cache = {str(path)!r}")
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def error_line(capsys) -> str:
    return capsys.readouterr().err.strip()


def final(outputs) -> dict:
    return outputs.outputs[-1]


def shown_answer(outputs) -> str:
    """The final Markdown without its usage line (the kernel total grows in one kernel)."""
    return final(outputs)["data"]["text/markdown"].split("<sub>")[0]


def test_record_mode_stores_one_readable_line_per_answer_without_the_key(
    shell, outputs, cache, server
):
    run(shell, "%%gpt -t 0.3\nWhat is a DataFrame?")
    [record] = records(cache)
    assert record["kind"] == "chat" and record["host"] == server.url.removeprefix("http://")
    assert record["request"]["model"] == "gpt-4o-mini"
    assert record["request"]["messages"][-1]["content"] == "What is a DataFrame?"
    assert record["request"]["parameters"] == {"temperature": 0.3, "n": 1}
    assert record["answer"]["texts"] == [final(outputs)["data"]["text/plain"]]
    assert record["answer"]["finish_reasons"] == ["stop"]
    assert record["answer"]["usage"]["total_tokens"] > 0
    assert set(record["answer"]) == {"texts", "finish_reasons", "usage", "model"}  # the shape
    assert KEY not in cache.read_text() and KEY[3:-3] not in cache.read_text()


def test_record_mode_serves_a_recorded_answer_without_calling_the_api(
    shell, outputs, cache, server
):
    run(shell, "%%gpt\nhello")
    first = final(outputs)["data"]["text/plain"]
    run(shell, "%%gpt --new\nhello")
    assert len(server.chat_requests) == 1
    assert final(outputs)["data"]["text/plain"] == first
    assert len(records(cache)) == 1


def test_replay_mode_never_calls_the_api_and_gives_the_recorded_answer(
    shell, outputs, cache, server
):
    server.enqueue(Reply(text="| a | b |\n|---|---|\n| 1 | 2 |"))
    run(shell, "%%gpt\nmake a table")
    recorded, recorded_markdown = final(outputs), shown_answer(outputs)
    run(shell, "%gpt reset")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt\nmake a table").success
    assert len(server.chat_requests) == 1
    replayed = final(outputs)
    assert replayed["data"]["text/plain"].encode() == recorded["data"]["text/plain"].encode()
    assert shown_answer(outputs).endswith(recorded_markdown)


def test_replayed_answers_say_so_in_markdown_and_metadata(shell, outputs, cache):
    run(shell, "%%gpt\nhello")
    run(shell, "%%gpt --new\nhello")
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["replayed"] is True and meta["cache"] == cache.name
    assert meta["model"] == "gpt-4o-mini" and meta["usage"]["total_tokens"] > 0
    assert final(outputs)["data"]["text/markdown"].startswith(f"> ↻ Replayed from {cache.name}")
    assert "Replayed" not in final(outputs)["data"]["text/plain"]


def test_a_replayed_answer_streams_in_pieces_like_the_original(shell, outputs, cache, server):
    server.enqueue(Reply(tokens=200))
    run(shell, "%%gpt\nlong answer")
    answer = final(outputs)["data"]["text/plain"]
    outputs.messages.clear()
    run(shell, "%%gpt --new\nlong answer")
    shown = [m["data"]["text/markdown"] for m in outputs.messages if "data" in m]
    streamed = [text for text in shown[:-1] if not text.startswith("*")]  # not status lines
    assert streamed and answer.startswith(streamed[0]) and len(streamed[0]) < len(answer)
    assert final(outputs)["data"]["text/plain"] == answer


def test_the_replayed_turn_continues_the_conversation_like_the_recorded_one(shell, cache, server):
    run(shell, "%%gpt\nfirst")
    run(shell, "%%gpt\nsecond")
    run(shell, "%gpt reset")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt\nfirst").success
    assert run(shell, "%%gpt\nsecond").success
    assert len(server.chat_requests) == 2


def test_replay_miss_is_an_error_naming_the_cell_and_the_file(shell, cache, server, capsys):
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    result = run(shell, "%%gpt\nWhat changed in pandas 2?\nBe brief.")
    line = error_line(capsys)
    assert not result.success and line.startswith("UsageError:") and "Traceback" not in line
    assert "'What changed in pandas 2?'" in line and str(cache) in line
    assert server.chat_requests == []
    assert conversation_turns(shell) == 0


def test_replay_miss_says_what_differs_from_a_recording_of_the_same_prompt(shell, cache, capsys):
    run(shell, "%%gpt -t 0\nhello")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    run(shell, "%%gpt --new -t 0 -m gpt-4.1\nhello")
    line = error_line(capsys)
    assert "differs in the model (recorded gpt-4o-mini, now gpt-4.1)" in line


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ("%config GPTMagic.max_tokens = 50", "the parameters"),
        ("%config GPTMagic.system_prompt = 'Be brief.'", "the conversation before it"),
    ],
)
def test_the_key_covers_server_parameters_and_conversation(shell, cache, capsys, change, differs):
    run(shell, "%%gpt\nhello")
    run(shell, "%gpt reset")
    run(shell, change)
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert not run(shell, "%%gpt\nhello").success
    assert differs in error_line(capsys)


ELSEWHERE = "http://127.0.0.1:9/v1"  # nothing listens: a request there would fail


def test_replay_uses_the_one_recording_made_against_another_server_and_says_so(
    shell, outputs, cache, server
):
    run(shell, "%%gpt\nhello")
    recorded = final(outputs)["data"]["text/plain"]
    run(shell, "%gpt reset")
    run(shell, f"%config GPTMagic.base_url = {ELSEWHERE!r}")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt\nhello").success
    assert len(server.chat_requests) == 1
    assert final(outputs)["data"]["text/plain"] == recorded
    recorded_at = server.base_url.split("//")[1].split("/")[0]
    note = final(outputs)["data"]["text/markdown"].split("\n\n")[0]
    created = records(cache)[0]["created"]
    assert note == (
        f"> ↻ Replayed from {cache.name} (recorded {created} against {recorded_at}); "
        "nothing was sent."
    )
    meta = final(outputs)["metadata"]["gptmagic"]
    assert (meta["host"], meta["recorded_host"]) == ("127.0.0.1:9", recorded_at)
    assert conversation_turns(shell) == 1 and len(records(cache)) == 1


def test_replay_with_recordings_from_two_other_servers_names_both(shell, cache, server, capsys):
    run(shell, "%%gpt\nhello")
    with FakeOpenAI(api_key=KEY, lifetime=60) as second:
        run(shell, "%gpt reset")
        run(shell, f"%config GPTMagic.base_url = {second.base_url!r}")
        run(shell, "%%gpt\nhello")
    hosts = sorted(r["host"] for r in records(cache))
    assert len(set(hosts)) == 2
    run(shell, "%gpt reset")
    run(shell, f"%config GPTMagic.base_url = {ELSEWHERE!r}")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    capsys.readouterr()
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert f"recorded against 2 other servers ({hosts[0]}, {hosts[1]})" in line
    assert "from 127.0.0.1:9" in line and "GPTMagic.base_url" in line
    assert conversation_turns(shell) == 0


def test_record_mode_never_uses_a_recording_made_against_another_server(shell, cache, server):
    run(shell, "%%gpt\nhello")
    with FakeOpenAI(api_key=KEY, lifetime=60) as second:
        run(shell, "%gpt reset")
        run(shell, f"%config GPTMagic.base_url = {second.base_url!r}")
        assert run(shell, "%%gpt\nhello").success
        assert len(second.chat_requests) == 1
    assert len(server.chat_requests) == 1 and len(records(cache)) == 2


def test_streaming_or_not_does_not_change_the_key(shell, outputs, cache, server):
    run(shell, "%%gpt\nhello")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt --new --no-stream\nhello").success
    assert len(server.chat_requests) == 1


def test_replay_without_a_cache_file_is_a_clear_error(shell, server, capsys):
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert not run(shell, "%%gpt\nhello").success
    assert "no cache file is set" in error_line(capsys) and server.chat_requests == []


def test_off_mode_ignores_the_cache(shell, cache, server):
    run(shell, "%config GPTMagic.cache_mode = 'off'")
    run(shell, "%%gpt\nhello")
    run(shell, "%%gpt --new\nhello")
    assert len(server.chat_requests) == 2 and not cache.exists()


def test_an_incomplete_answer_is_not_recorded(shell, cache, server):
    server.enqueue(Reply(tokens=50, drop_after=5))
    assert not run(shell, "%%gpt\nhello").success
    assert not cache.exists() or records(cache) == []


def test_an_interrupted_answer_is_not_recorded(shell, outputs, cache, server):
    server.enqueue(Reply(text="Once upon a time", stall=30))
    interrupt_when(server.when_sent(1), outputs.when_shown("Once"))
    assert not run(shell, "%%gpt\ntell me a long story").success
    assert outputs.outputs[-1]["metadata"]["gptmagic"]["status"] == "interrupted"
    assert not cache.exists() or records(cache) == []
    assert run(shell, "%%gpt\nhello").success
    assert len(records(cache)) == 1


def test_several_answers_are_recorded_and_replayed_together(shell, outputs, cache, server):
    run(shell, "%%gpt -n 2\nname a colour")
    recorded = shown_answer(outputs)
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    run(shell, "%%gpt --new -n 2\nname a colour")
    assert shown_answer(outputs).endswith(recorded)
    assert len(server.chat_requests) == 1


def test_a_half_written_last_line_is_skipped_and_the_next_answer_starts_a_new_line(
    shell, cache, server
):
    run(shell, "%%gpt\nfirst")
    with cache.open("a", encoding="utf-8") as f:
        f.write('{"key": "crashed-writ')
    run(shell, "%%gpt --new\nsecond")
    lines = cache.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and lines[1] == '{"key": "crashed-writ'
    index = CacheFile(cache)
    index.refresh()
    assert len(index.index) == 2 and index.skipped_lines == 1
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt --new\nsecond").success
    assert len(server.chat_requests) == 2


def test_answers_recorded_by_another_kernel_are_read_without_re_reading_the_file(
    shell, cache, server
):
    run(shell, "%%gpt\nfirst")
    run(shell, "%%gpt --new\nsecond")
    mine = CacheFile(cache)
    mine.refresh()
    assert mine.parsed_lines == 2
    run(shell, "%%gpt --new\nthird")  # appended by the shell's own CacheFile, like a 2nd kernel
    key = records(cache)[-1]["key"]
    assert mine.get(key)["answer"]["texts"][0].startswith("Answer 3")
    assert mine.parsed_lines == 3


def test_a_cache_file_rewritten_by_hand_is_indexed_afresh(shell, cache):
    run(shell, "%%gpt\nfirst")
    run(shell, "%%gpt --new\nsecond")
    mine = CacheFile(cache)
    first, second = records(cache)
    assert mine.get(first["key"]) is not None
    cache.write_text(json.dumps(second) + "\n", encoding="utf-8")
    assert mine.get(first["key"]) is None and mine.get(second["key"]) is not None


def append_many(path: str, worker: int, count: int, size: int) -> None:
    cache = CacheFile(Path(path))
    for i in range(count):
        record = {"key": f"{worker}-{i}", "kind": "chat", "host": "h", "request": {}}
        record["answer"] = {"texts": [f"{worker}-{i}:" + "x" * size]}
        cache.append(json.dumps(record))


def test_concurrent_kernels_appending_large_lines_never_corrupt_the_file(tmp_path):
    path, workers, count, size = tmp_path / "shared.jsonl", 4, 25, 100_000  # > PIPE_BUF
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=append_many, args=(str(path), w, count, size))
        for w in range(workers)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == workers * count
    keys = set()
    for line in lines:
        record = json.loads(line)
        assert record["answer"]["texts"][0] == f"{record['key']}:" + "x" * size
        keys.add(record["key"])
    assert len(keys) == workers * count


def test_cache_and_mode_default_from_the_environment(env, tmp_path, monkeypatch):
    monkeypatch.setenv("GPTMAGIC_CACHE", str(tmp_path / "env.gptcache.jsonl"))
    monkeypatch.setenv("GPTMAGIC_CACHE_MODE", "replay")
    ip = make_shell()
    ip.run_line_magic("load_ext", "gptmagic")
    magic = ip.magics_manager.registry["GPTMagic"]
    assert magic.cache == str(tmp_path / "env.gptcache.jsonl") and magic.cache_mode == "replay"
    ip.run_line_magic("config", "GPTMagic.cache_mode = 'record'")  # %config wins over env
    mode = magic.cache_mode
    dispose_shell(ip)
    assert mode == "record"


def test_a_misspelt_cache_mode_in_the_environment_replays_and_never_calls_the_api(
    env, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GPTMAGIC_CACHE", str(tmp_path / "env.gptcache.jsonl"))
    monkeypatch.setenv("GPTMAGIC_CACHE_MODE", "recrod")
    ip = make_shell()
    with pytest.warns(UserWarning, match="GPTMAGIC_CACHE_MODE='recrod' is not one of"):
        ip.run_line_magic("load_ext", "gptmagic")
        mode = ip.magics_manager.registry["GPTMagic"].cache_mode
        failed = not ip.run_cell("%%gpt\nhello").success
        dispose_shell(ip)
    assert mode == "replay" and failed and env.chat_requests == []
    assert "env.gptcache.jsonl" in capsys.readouterr().err  # a replay miss names the file


def conversation_turns(shell) -> int:
    return len(shell.magics_manager.registry["GPTMagic"].session.conversation.turns)


def image_requests(server) -> list:
    return [r for r in server.requests if r.path == "/v1/images/generations"]


def test_images_are_recorded_and_replayed_byte_for_byte(shell, outputs, cache, server):
    run(shell, "%gptimage -n 2 --size 256x256 a red fox")
    recorded = [o["data"]["image/png"] for o in outputs.outputs if "image/png" in o["data"]]
    [record] = records(cache)
    assert record["kind"] == "image" and len(record["answer"]["images"]) == 2
    assert record["request"]["parameters"] == {"size": "256x256", "n": 2}
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    outputs.outputs.clear()
    assert run(shell, "%gptimage -n 2 --size 256x256 a red fox").success
    assert len(image_requests(server)) == 1
    images = [o for o in outputs.outputs if "image/png" in o["data"]]
    assert [o["data"]["image/png"] for o in images] == recorded
    assert all(o["metadata"]["gptmagic"]["replayed"] is True for o in images)
    assert "Replayed from" in outputs.outputs[-1]["data"]["text/markdown"]


def recorded_at(cache: Path, host: str) -> None:
    """Rewrite the cache as if its answers had been recorded against ``host``."""
    moved = []
    for record in records(cache):
        record["host"] = host
        record["key"] = request_key(record["kind"], host, record["request"])
        moved.append(json.dumps(record))
    cache.write_text("\n".join(moved) + "\n", encoding="utf-8")


@pytest.mark.parametrize("cell", ["%gptimage a lighthouse", "%%gpt\nhello"])
def test_replay_needs_no_key_even_for_a_remote_server(shell, cache, server, monkeypatch, cell):
    run(shell, cell)
    recorded_at(cache, "api.example.com")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr("getpass.getpass", pytest.fail)  # asking for a key fails the test
    run(shell, "%gpt reset")
    run(shell, "%config GPTMagic.base_url = 'https://api.example.com/v1'")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, cell).success
    assert len(server.requests) == 1


def a_good_line(cache: Path) -> dict:
    """A recorded line to spoil: the first record of the cache."""
    return records(cache)[0]


HOSTILE = {
    "request_list": lambda r: {**r, "request": []},
    "texts_numbers": lambda r: {**r, "answer": {**r["answer"], "texts": [123]}},
    "texts_missing": lambda r: {**r, "answer": {"finish_reasons": ["stop"]}},
    "reasons_short": lambda r: {**r, "answer": {**r["answer"], "finish_reasons": []}},
    "no_created": lambda r: {k: v for k, v in r.items() if k != "created"},
    "messages_strings": lambda r: {**r, "request": {**r["request"], "messages": ["hi"]}},
    "usage_text": lambda r: {**r, "answer": {**r["answer"], "usage": "lots"}},
    "reasoning_number": lambda r: {**r, "answer": {**r["answer"], "reasoning": 42}},
    "unknown_kind": lambda r: {**r, "kind": "audio"},
    "not_an_object": lambda r: [r],
    "null": lambda r: None,
}


@pytest.mark.parametrize("spoil", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_bad_line_is_skipped_and_named_and_never_fails_a_cell(
    shell, cache, server, capsys, spoil
):
    run(shell, "%%gpt\nfirst")
    good = a_good_line(cache)
    with cache.open("a", encoding="utf-8") as f:
        f.write(json.dumps(spoil(good)) + "\n")  # line 2, with the key of the line above
    capsys.readouterr()
    assert run(shell, "%%gpt --new\nsecond").success  # record mode: answered, recorded
    err = capsys.readouterr().err.strip()
    assert err == (
        f"gptmagic: skipped 1 unreadable line(s) of the replay cache {cache} (line 2): "
        "not a recording gptmagic can replay. The others are used."
    )
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt --new\nfirst").success and run(shell, "%%gpt --new\nsecond").success
    assert len(server.chat_requests) == 2
    assert capsys.readouterr().err == ""  # said once


@pytest.mark.parametrize(
    "line",
    [b"[" * 100_000 + b"]" * 100_000, b'{"key": "\xff\xfe"}', b"not json at all"],
    ids=["deeply_nested", "invalid_utf8", "not_json"],
)
def test_unparsable_lines_are_skipped_with_their_line_numbers(shell, cache, server, capsys, line):
    run(shell, "%%gpt\nfirst")
    with cache.open("ab") as f:
        f.write(line + b"\n\n" + line + b"\n")  # lines 2 and 4 (3 is blank)
    capsys.readouterr()
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    assert run(shell, "%%gpt --new\nfirst").success
    assert f"skipped 2 unreadable line(s) of the replay cache {cache} (line 2, 4)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("mode", ["record", "replay"])
def test_a_folder_as_cache_is_one_line_and_nothing_is_sent(shell, server, tmp_path, capsys, mode):
    run(shell, f"%config GPTMagic.cache = '{tmp_path}'")
    run(shell, f"%config GPTMagic.cache_mode = '{mode}'")
    capsys.readouterr()
    result = run(shell, "%%gpt\nhello")
    err = capsys.readouterr().err
    assert not result.success and "Traceback" not in err
    assert err.strip() == (
        f"UsageError: Cannot read the replay cache {tmp_path}: it is a folder. Set "
        "GPTMagic.cache to a .jsonl file (or '' for none)."
    )
    assert server.chat_requests == []


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("~gptmagic-no-such-user/a.jsonl", "'~gptmagic-no-such-user' is no known user's home"),
        ("a\\x00b.jsonl", "a file name cannot contain a NUL character"),
        ("/dev/null", "it is not a regular file"),
    ],
)
def test_a_cache_path_no_file_can_have_is_one_line_and_nothing_is_sent(
    shell, server, capsys, path, why
):
    run(shell, f"%config GPTMagic.cache = '{path}'")
    capsys.readouterr()
    assert not run(shell, "%%gpt\nhello").success
    err = capsys.readouterr().err
    assert err.startswith("UsageError:") and why in err and "Traceback" not in err
    assert server.chat_requests == []
