"""Provenance: what produced each answer, in its output, in %gpt history and in every export."""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.conftest import KEY, run


@pytest.fixture
def answered(shell, outputs, server):
    """One answer with every parameter set; returns its output metadata."""
    run(shell, "%%gpt -t 0.3 --top-p 0.9 --max-tokens 200 -n 1\nWhat is a DataFrame?")
    return outputs.outputs[-1]["metadata"]["gptmagic"]


def conversation(shell):
    return shell.magics_manager.registry["GPTMagic"].session.conversation


def test_answer_metadata_names_model_parameters_usage_finish_host_and_time(answered, server):
    assert answered["model"] == "gpt-4o-mini"
    assert answered["host"] == server.url.removeprefix("http://")
    parameters = answered["parameters"]
    assert (parameters["temperature"], parameters["top_p"]) == (0.3, 0.9)
    assert (parameters["max_tokens"], parameters["n"]) == (200, 1)
    assert answered["usage"]["total_tokens"] > 0 and answered["finish_reason"] == "stop"
    assert answered["timestamp"].endswith("+00:00")
    assert KEY not in json.dumps(answered)


def test_history_shows_a_provenance_line_under_each_answer(answered, shell, outputs, server):
    run(shell, "%gpt history")
    markdown = outputs.markdown()[-1]
    host = server.url.removeprefix("http://")
    line = f"<sub>gpt-4o-mini · {host} · max_tokens=200, n=1, temperature=0.3, top_p=0.9 · "
    assert line in markdown
    assert f"{answered['usage']['total_tokens']} tokens · finish: stop" in markdown
    assert answered["timestamp"] in markdown


@pytest.mark.parametrize("suffix", [".md", ".ipynb"])
def test_readable_exports_carry_provenance_and_load_back_unchanged(
    answered, shell, tmp_path, suffix
):
    path = tmp_path / f"chat{suffix}"
    run(shell, f"%gpt save {path}")
    text = path.read_text(encoding="utf-8")
    for fact in (answered["host"], answered["timestamp"], '"max_tokens": 200', "finish: stop"):
        assert fact in text, fact
    before = [(m.role, m.content) for m in conversation(shell).messages]
    run(shell, "%gpt reset")
    run(shell, f"%gpt load {path}")
    after = conversation(shell).messages
    assert [(m.role, m.content) for m in after] == before
    assert after[-1].meta["usage"] == answered["usage"]
    assert after[-1].meta["parameters"]["top_p"] == 0.9


def test_notebook_export_keeps_the_whole_metadata_on_each_answer_cell(answered, shell, tmp_path):
    path = tmp_path / "chat.ipynb"
    run(shell, f"%gpt save {path}")
    cells = nbformat.read(path, as_version=4).cells
    meta = cells[-1].metadata["gptmagic"]["meta"]
    assert {k: meta[k] for k in ("model", "host", "usage", "finish_reason", "timestamp")} == {
        k: answered[k] for k in ("model", "host", "usage", "finish_reason", "timestamp")
    }


def test_replayed_answers_say_so_in_the_history(shell, outputs, tmp_path):
    run(shell, f"%config GPTMagic.cache = {str(tmp_path / 'c.jsonl')!r}")
    run(shell, "%%gpt\nhello")
    run(shell, "%%gpt --new\nhello")
    run(shell, "%gpt history")
    assert "· replayed</sub>" in outputs.markdown()[-1]


def test_a_replayed_answer_saved_as_markdown_loads_back_replayed_with_its_text_alone(
    shell, tmp_path
):
    run(shell, f"%config GPTMagic.cache = {str(tmp_path / 'c.jsonl')!r}")
    run(shell, "%%gpt\nhello")
    run(shell, "%%gpt --new\nhello")
    answer = conversation(shell).turns[0].assistant.content
    path = tmp_path / "chat.md"
    assert run(shell, f"%gpt save {path}").success
    assert run(shell, f"%gpt load {path}").success
    [turn] = conversation(shell).turns
    assert (turn.assistant.content, turn.assistant.meta["replayed"]) == (answer, True)
