"""%gpt subcommands: status, reset, history, models, usage, save/load, and their bad input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run


def conversation(shell):
    return shell.magics_manager.registry["GPTMagic"].session.conversation


def test_status_is_one_line_with_model_host_and_usage(shell, server, capsys):
    run(shell, "%%gpt\nhello")
    capsys.readouterr()
    run(shell, "%gpt")
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1
    assert "gpt-4o-mini" in out and server.url.removeprefix("http://") in out
    assert "1 turn(s)" in out and "key from OPENAI_API_KEY" in out


def test_status_names_the_replay_cache_when_one_is_set(shell, tmp_path, capsys):
    run(shell, f"%config GPTMagic.cache = '{tmp_path / 'answers.jsonl'}'")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    capsys.readouterr()
    run(shell, "%gpt")
    assert f"cache replay {tmp_path / 'answers.jsonl'}" in capsys.readouterr().out


def test_history_shows_the_conversation_as_markdown(shell, outputs):
    run(shell, "%%gpt -s 'Be brief.'\nwhat is pandas?")
    run(shell, "%gpt history")
    markdown = outputs.markdown()[-1]
    assert "### System" in markdown and "Be brief." in markdown
    assert "### User\n\nwhat is pandas?" in markdown and "### Assistant" in markdown


def test_models_lists_the_servers_models_and_marks_the_current_one(shell, outputs):
    run(shell, "%gpt models")
    markdown = outputs.markdown()[-1]
    assert "- `gpt-4o-mini` ← current" in markdown and "- `gpt-4.1`" in markdown


def test_usage_adds_up_the_answers_and_can_be_reset(shell, outputs, capsys):
    run(shell, "%%gpt\nhello")
    run(shell, "%%gpt\nagain")
    run(shell, "%gpt usage")
    table = outputs.markdown()[-1]
    assert "| 1 | chat | gpt-4o-mini |" in table and "| 2 | chat |" in table
    assert "**kernel**" in table
    run(shell, "%gpt usage --reset")
    run(shell, "%gpt usage")
    assert outputs.markdown()[-1] == "No tokens used yet in this kernel."


@pytest.mark.parametrize("suffix", [".json", ".md", ".ipynb"])
def test_save_then_load_restores_the_conversation(shell, server, tmp_path, suffix):
    run(shell, "%%gpt -s 'Be brief.'\nfirst")
    run(shell, "%%gpt\nsecond")
    path = tmp_path / f"chat{suffix}"
    assert run(shell, f"%gpt save {path}").success
    expected = [(m.role, m.content) for m in conversation(shell).messages]
    run(shell, "%gpt reset")
    assert run(shell, f"%gpt load {path}").success
    assert [(m.role, m.content) for m in conversation(shell).messages] == expected
    run(shell, "%%gpt\nthird")
    assert len(server.chat_requests[-1].body["messages"]) == 6


def test_json_export_keeps_provenance(shell, tmp_path):
    run(shell, "%%gpt -t 0.5\nhello")
    run(shell, f"%gpt save {tmp_path / 'c.json'}")
    data = json.loads((tmp_path / "c.json").read_text())
    meta = data["turns"][0]["assistant"]["meta"]
    assert meta["model"] == "gpt-4o-mini" and meta["parameters"]["temperature"] == 0.5
    assert meta["usage"]["total_tokens"] > 0 and meta["host"].startswith("127.0.0.1")


def test_paths_with_spaces_can_be_quoted(shell, tmp_path):
    run(shell, "%%gpt\nhello")
    path = tmp_path / "my chat.json"
    assert run(shell, f"%gpt save '{path}'").success
    assert path.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%gpt bogus", "Unknown %gpt subcommand 'bogus'"),
        ("%gpt save", "the following arguments are required: path"),
        ("%gpt save chat.txt", "use .json, .md or .ipynb"),
        ("%gpt load /nonexistent/chat.json", "No such file"),
        ("%gpt usage --bogus", "unrecognized arguments: --bogus"),
        ("%gpt reset now", "unrecognized arguments: now"),
        ("%gpt save 'unclosed", "Cannot read the options"),
    ],
)
def test_bad_subcommand_input_is_one_line(shell, capsys, line, message):
    result = run(shell, line)
    err = capsys.readouterr().err
    assert not result.success
    assert err.startswith("UsageError:") and message in err and "Traceback" not in err


def test_loading_a_file_that_is_not_a_conversation_is_refused(shell, tmp_path, capsys):
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')
    run(shell, "%%gpt\nhello")
    assert not run(shell, f"%gpt load {path}").success
    assert "not a conversation gptmagic can load" in capsys.readouterr().err
    assert len(conversation(shell).turns) == 1
