"""cache.py: what the request key covers, and a recorded answer replayed as stream events."""

from __future__ import annotations

import json

import pytest

from gptmagic import cache
from gptmagic.backends.events import Delta, Finish, Reported
from gptmagic.cache import (
    CacheFile,
    Lookup,
    Summary,
    answer_parameters,
    chat_answer,
    chat_events,
    request_key,
)
from gptmagic.usage import Usage

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "parameters": {}}


@pytest.fixture(autouse=True)
def no_replay_pauses(monkeypatch):
    monkeypatch.setattr(cache.time, "sleep", lambda seconds: None)


def test_the_key_covers_kind_host_model_messages_and_parameters():
    key = request_key("chat", "h", REQUEST)
    assert key == request_key("chat", "h", dict(reversed(REQUEST.items())))
    assert key != request_key("image", "h", REQUEST)
    assert key != request_key("chat", "other", REQUEST)
    assert key != request_key("chat", "h", {**REQUEST, "model": "n"})
    assert key != request_key("chat", "h", {**REQUEST, "parameters": {"n": 2}})
    other = [{"role": "user", "content": "hello"}]
    assert key != request_key("chat", "h", {**REQUEST, "messages": other})


def test_unset_parameters_and_how_the_answer_arrives_are_not_in_the_key():
    parameters = {"temperature": None, "top_p": 0.5, "stream": True, "partial": 2, "n": 1}
    assert answer_parameters(parameters) == {"top_p": 0.5, "n": 1}


def test_a_replayed_answer_gives_the_same_events_as_the_original():
    answer = chat_answer(["first answer text", "second"], ["stop", "length"], Usage(3, 4, 7), "m")
    events = list(chat_events(answer))
    texts = {0: "", 1: ""}
    for event in events:
        if isinstance(event, Delta):
            texts[event.index] += event.text
    assert texts == {0: "first answer text", 1: "second"}
    assert [e for e in events if not isinstance(e, Delta)] == [
        Finish(0, "stop"),
        Finish(1, "length"),
        Reported(Usage(3, 4, 7), "m"),
    ]


def test_an_answer_recorded_without_usage_replays_without_usage():
    events = list(chat_events(chat_answer(["x"], ["stop"], None, None)))
    assert not any(isinstance(e, Reported) for e in events)


def test_near_misses_name_what_differs():
    recorded = Summary.of("chat", "h", REQUEST)
    wanted = Summary.of("chat", "h2", {**REQUEST, "model": "n", "parameters": {"n": 2}})
    assert wanted.differences(recorded) == [
        "the server (recorded at h, now h2)",
        "the model (recorded m, now n)",
        "the parameters (recorded {}, now {'n': 2})",
    ]


def test_a_stored_record_masks_every_occurrence_of_a_secret(tmp_path):
    file = CacheFile(tmp_path / "c.jsonl")
    found = Lookup(file, "record", "chat", "k1", "h", REQUEST, ["sk-SECRET-1234"])
    found.store(chat_answer(["key sk-SECRET-1234 twice sk-SECRET-1234"], ["stop"], None, "m"))
    line = (tmp_path / "c.jsonl").read_text()
    assert "sk-SECRET-1234" not in line and line.count("***") == 2
    assert file.get("k1")["answer"]["texts"] == ["key *** twice ***"]


def test_a_replay_or_a_hit_is_never_recorded_again(tmp_path):
    path = tmp_path / "c.jsonl"
    Lookup(CacheFile(path), "replay", "chat", "k", "h", REQUEST).store({"texts": []})
    assert not path.exists()
    hit = Lookup(CacheFile(path), "record", "chat", "k", "h", REQUEST, record={"answer": {}})
    hit.store({"texts": []})
    assert not path.exists()


def test_records_appended_by_another_writer_are_indexed_from_where_reading_stopped(tmp_path):
    path = tmp_path / "c.jsonl"
    reader, writer = CacheFile(path), CacheFile(path)
    answer = chat_answer(["x"], ["stop"], None, "m")
    record = {"key": "a", "kind": "chat", "host": "h", "created": "now", "request": REQUEST}
    record["answer"] = answer
    writer.append(json.dumps(record))
    assert reader.get("a")["key"] == "a" and reader.parsed_lines == 1
    writer.append(json.dumps({**record, "key": "b"}))
    assert reader.get("b")["key"] == "b" and reader.parsed_lines == 2
    assert reader.get("c") is None
