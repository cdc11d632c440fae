"""%gpt subcommands: status, reset, history, models, usage, save/load, and their bad input."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from gptmagic.testing.server import Reply
from tests.conftest import interrupt_when, run


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


def test_ctrl_c_while_a_server_keeps_the_model_list_waiting_is_one_line(shell, capsys):
    """A gateway that takes the request and never answers: Ctrl-C before the timeout ends
    ``%gpt models`` with one line, not a KeyboardInterrupt traceback through httpx."""
    accepted, connections = threading.Event(), []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def accept():
            connections.append(listener.accept()[0])  # held open, never answered
            accepted.set()

        threading.Thread(target=accept, daemon=True).start()
        port = listener.getsockname()[1]
        run(shell, f"%config GPTMagic.base_url = 'http://127.0.0.1:{port}/v1'")
        interrupt_when(accepted)
        started = time.monotonic()
        result = run(shell, "%gpt models")
    for connection in connections:
        connection.close()
    captured = capsys.readouterr()
    assert not result.success and time.monotonic() - started < 10
    assert captured.err.strip() == "UsageError: Interrupted: the model list did not arrive."
    assert "Traceback" not in captured.out + captured.err


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


def test_status_counts_the_prompts_and_the_answers_tokens_in_the_kernels_usage(
    shell, server, capsys
):
    # The local server counts "hello" as 1 + 3 prompt tokens, "one two three" as 3.
    server.enqueue(Reply(text="one two three"))
    run(shell, "%%gpt\nhello")
    capsys.readouterr()
    run(shell, "%gpt status")
    assert " · kernel usage 7 tokens · " in capsys.readouterr().out


def test_history_of_a_conversation_with_only_a_system_prompt_shows_it(shell, outputs, capsys):
    run(shell, "%gpt history")
    assert capsys.readouterr().out == "The conversation is empty.\n"
    run(shell, "%config GPTMagic.system_prompt = 'Be brief.'")
    run(shell, "%gpt history")
    assert capsys.readouterr().out == ""
    assert "### System" in outputs.markdown()[-1] and "Be brief." in outputs.markdown()[-1]


def test_models_marks_only_the_model_in_use_not_one_whose_name_it_starts_with(shell, outputs):
    run(shell, "%gpt models")  # the model in use is gpt-4o-mini; gpt-4o is another model
    lines = outputs.markdown()[-1].splitlines()
    assert [line for line in lines if "current" in line] == ["- `gpt-4o-mini` ← current"]
    assert "- `gpt-4o`" in lines


def test_usage_says_how_much_of_the_token_budget_is_used(shell, server, outputs):
    server.enqueue(Reply(text="one two three"))  # 7 tokens with the prompt "hello"
    run(shell, "%%gpt\nhello")
    run(shell, "%gpt usage")
    assert "Budget" not in outputs.markdown()[-1]
    run(shell, "%config GPTMagic.token_budget = 1000")
    run(shell, "%gpt usage")
    assert outputs.markdown()[-1].endswith("\n\nBudget: 7 of 1,000 tokens used.")


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


def test_save_refuses_the_notebook_the_kernel_runs_for_and_writes_any_other(
    shell, tmp_path, monkeypatch, capsys
):
    """In JupyterLab, ``%gpt save analysis.ipynb`` from analysis.ipynb replaced the notebook on
    disk with the conversation (its code cells and outputs gone; Lab then offered to revert
    to it). Jupyter names the kernel's notebook in JPY_SESSION_NAME."""
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text('{"cells": ["the analysis"]}', encoding="utf-8")
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    monkeypatch.chdir(tmp_path)
    run(shell, "%%gpt\nhello")
    capsys.readouterr()
    assert not run(shell, "%gpt save analysis.ipynb").success
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "UsageError: Cannot save to analysis.ipynb: it is this kernel's own notebook, which "
        "would be replaced by the conversation; save it under another name."
    )
    assert notebook.read_text(encoding="utf-8") == '{"cells": ["the analysis"]}'
    assert run(shell, "%gpt save analysis-chat.ipynb").success  # any other name: saved
    assert "hello" in (tmp_path / "analysis-chat.ipynb").read_text(encoding="utf-8")


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
        ("%gpt save ~gptmagic-no-such-user/c.json", "is no known user's home folder"),
        ("%gpt load ~gptmagic-no-such-user/c.json", "is no known user's home folder"),
        ("%gpt save a\x00b.json", "a file name cannot contain a NUL character"),
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


GOOD_TURN = {
    "user": {"role": "user", "content": "q"},
    "assistant": {"role": "assistant", "content": "a"},
}


def conversation_file(**changes) -> str:
    """A .json conversation with one turn, its fields changed as given (``turn``: the turn)."""
    turn = changes.pop("turn", GOOD_TURN)
    data = {"format": "gptmagic.conversation", "version": 1, "system": "", "turns": [turn]}
    return json.dumps({**data, **changes})


def with_message(which: str, **fields) -> dict:
    """The good turn with its ``which`` message's fields changed."""
    return {**GOOD_TURN, which: {**GOOD_TURN[which], **fields}}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.json", "[]", "not a gptmagic conversation file"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("turns.json", conversation_file(turns="abc"), "'turns' a list"),
        ("turn.json", conversation_file(turns=[5]), "turn 1 is not an object"),
        ("system.json", conversation_file(system=["x"]), "'system' must be text"),
        ("version.json", conversation_file(version=2), "version 2"),
        ("tokens.json", conversation_file(turn=with_message("user", tokens="abc")), "'tokens'"),
        ("negative.json", conversation_file(turn=with_message("user", tokens=-5)), "'tokens'"),
        ("meta.json", conversation_file(turn=with_message("assistant", meta="model")), "'meta'"),
        (
            "usage.json",
            conversation_file(turn=with_message("assistant", meta={"model": "m", "usage": "x"})),
            "'meta.usage'",
        ),
        ("tool.json", conversation_file(turn=with_message("assistant", role="tool")), "'tool'"),
        ("content.json", conversation_file(turn=with_message("user", content=None)), "'content'"),
        ("missing.json", conversation_file(turn={"user": GOOD_TURN["user"]}), "turn 1 assistant"),
        (
            "cells.ipynb",
            '{"cells": "abc", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            "not a notebook nbformat can read",
        ),
        ("garbage.ipynb", "not json", "not a notebook nbformat can read"),
        (
            "role.ipynb",
            json.dumps(
                {
                    "cells": [
                        {
                            "cell_type": "markdown",
                            "id": "a",
                            "metadata": {"gptmagic": {"role": "tool"}},
                            "source": "x",
                        }
                    ],
                    "metadata": {},
                    "nbformat": 4,
                    "nbformat_minor": 5,
                }
            ),
            "no known role",
        ),
        ("meta.md", '<!-- gptmagic:user "model" -->\nq\n', "no gptmagic role markers"),
        ("array.md", "<!-- gptmagic:user {} -->\nq\n<!-- gptmagic:user {} -->\nq\n", "alternate"),
        ("latin1.json", b"\xff\xfe{}", "not UTF-8 text"),
    ],
)
def test_a_bad_file_is_one_line_and_leaves_the_conversation_untouched(
    shell, tmp_path, capsys, name, content, message
):
    run(shell, "%%gpt -s 'Be brief.'\nhello")
    before = [(m.role, m.content) for m in conversation(shell).messages]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    capsys.readouterr()
    result = run(shell, f"%gpt load {path}")
    err = capsys.readouterr().err
    assert not result.success
    assert err.startswith("UsageError:") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert [(m.role, m.content) for m in conversation(shell).messages] == before


def test_loading_a_folder_is_one_line(shell, tmp_path, capsys):
    (tmp_path / "chat.json").mkdir()
    assert not run(shell, f"%gpt load {tmp_path / 'chat.json'}").success
    assert capsys.readouterr().err.startswith(f"UsageError: {tmp_path / 'chat.json'} is a folder")


def test_a_loaded_file_with_half_an_emoji_is_repaired_and_later_cells_work(shell, server, tmp_path):
    path = tmp_path / "chat.json"
    turn = with_message("user", content="smile \ud83d please")  # json.dumps writes "\\ud83d"
    path.write_text(conversation_file(turn=turn), encoding="utf-8")
    assert run(shell, f"%gpt load {path}").success
    assert run(shell, "%%gpt\nand now?").success
    sent = server.chat_requests[-1].body["messages"]
    assert sent[0]["content"] == "smile \ufffd please"
    assert run(shell, f"%gpt save {path}").success


def test_a_conversation_holding_half_an_emoji_is_saved_with_a_replacement_character(
    shell, tmp_path
):
    from gptmagic.conversation import Message, Turn

    run(shell, "%%gpt\nhello")
    conversation(shell).turns.append(Turn(Message("user", "a\ud800b"), Message("assistant", "c")))
    path = tmp_path / "chat.json"
    assert run(shell, f"%gpt save {path}").success
    user = json.loads(path.read_text(encoding="utf-8"))["turns"][1]["user"]
    assert user["content"] == "a\ufffdb"


@pytest.mark.parametrize("where", ["missing/chat.json", "chat.json/"])
def test_saving_where_no_file_can_be_is_one_line_and_creates_nothing(
    shell, tmp_path, capsys, where
):
    if where.endswith("/"):
        (tmp_path / "chat.json").mkdir()
    run(shell, "%%gpt\nhello")
    capsys.readouterr()
    result = run(shell, f"%gpt save {tmp_path / where}")
    err = capsys.readouterr().err
    assert not result.success and err.startswith("UsageError: Cannot save to")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.rglob("*")] == (["chat.json"] if where[-1] == "/" else [])


@pytest.mark.parametrize("line", ["%gpt -h", "%gpt --help", "%gpt help"])
def test_asking_gpt_for_help_shows_what_gpt_question_mark_shows(shell, capsys, line):
    run(shell, "%gpt?")
    asked = capsys.readouterr().out
    result = run(shell, line)
    captured = capsys.readouterr()
    assert result.success and captured.err == ""
    lines = captured.out.strip().splitlines()
    assert lines[0] == "%gpt [SUBCOMMAND] [options]: status and conversation tools."
    assert "save PATH; load PATH" in captured.out
    assert all(line in asked for line in lines)  # the same text as %gpt? (less its frame)


def test_an_option_that_is_not_help_is_still_an_unknown_subcommand(shell, capsys):
    result = run(shell, "%gpt --hlep")
    assert not result.success
    assert "Unknown %gpt subcommand '--hlep'" in capsys.readouterr().err


def test_loading_a_named_pipe_is_refused_at_once_not_a_hang(shell, tmp_path, capsys):
    """A FIFO with no writer blocked the kernel's read forever; a writer that comes late
    (the test's safety net) would only turn the hang into a slow wrong error."""
    run(shell, "%%gpt\nkept")
    pipe = tmp_path / "chat.json"
    os.mkfifo(pipe)
    tested = threading.Event()

    def late_writer():
        if not tested.wait(10):
            with open(pipe, "w") as writer:
                writer.write("{}")

    threading.Thread(target=late_writer, daemon=True).start()
    started = time.monotonic()
    result = run(shell, f"%gpt load {pipe}")
    elapsed = time.monotonic() - started
    tested.set()
    err = capsys.readouterr().err
    assert not result.success and elapsed < 5
    assert err == f"UsageError: {pipe} is not a regular file (a pipe or a device): not loaded.\n"
    assert conversation(shell).messages[0].content == "kept"


def test_loading_a_device_is_refused_before_reading_it(shell, tmp_path, capsys):
    """/dev/zero never ends: read whole, it filled the kernel's memory. /dev/null here, so
    that the test, run without the check, fails with a wrong line instead of eating memory."""
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    started = time.monotonic()
    assert not run(shell, f"%gpt load {link}").success
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err == f"UsageError: {link} is not a regular file (a pipe or a device): not loaded.\n"


def test_a_conversation_file_over_the_cap_is_refused_before_it_is_read(
    shell, server, tmp_path, capsys, monkeypatch
):
    from gptmagic import export

    run(shell, "%%gpt\nkept")
    saved = [m.content for m in conversation(shell).messages]
    path = tmp_path / "chat.json"
    assert run(shell, f"%gpt save {path}").success
    size = path.stat().st_size
    monkeypatch.setattr(export, "LOAD_MAX_BYTES", size)  # exactly at the cap: loaded
    run(shell, "%gpt reset")
    assert run(shell, f"%gpt load {path}").success
    assert [m.content for m in conversation(shell).messages] == saved
    monkeypatch.setattr(export, "LOAD_MAX_BYTES", size - 1)  # one byte over: refused
    run(shell, "%gpt reset")
    capsys.readouterr()
    assert not run(shell, f"%gpt load {path}").success
    assert capsys.readouterr().err.startswith(f"UsageError: {path} is 0.0 MB, more than the 0 MB")
    assert conversation(shell).messages == []


def test_a_huge_file_is_refused_by_its_size_without_reading_it(shell, tmp_path, capsys):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:  # sparse: 2 GB that take no disk and would take seconds to read
        f.truncate(2 * 1024**3)
    assert not run(shell, f"%gpt load {path}").success
    assert capsys.readouterr().err == (
        f"UsageError: {path} is 2,048.0 MB, more than the 64 MB a conversation file may have: "
        "not loaded.\n"
    )


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="Linux's /proc")
def test_saving_into_a_folder_that_takes_no_files_does_not_say_it_is_missing(shell, capsys):
    """/proc exists, yet creating a file in it fails with ENOENT: "does not exist" was false."""
    result = run(shell, "%gpt save /proc/x.json")
    assert not result.success
    assert capsys.readouterr().err in (
        "UsageError: Cannot save to /proc/x.json: the folder /proc does not take new files "
        "(No such file or directory).\n",  # as root
        "UsageError: Cannot save to /proc/x.json: Permission denied.\n",  # as anyone else
    )


def test_saving_into_a_missing_folder_still_says_it_does_not_exist(shell, tmp_path, capsys):
    target = tmp_path / "absent" / "x.json"
    assert not run(shell, f"%gpt save {target}").success
    assert capsys.readouterr().err == (
        f"UsageError: Cannot save to {target}: the folder {target.parent} does not exist.\n"
    )


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="Linux's /sys")
def test_saving_into_a_folder_that_refuses_writing_says_why(shell, capsys):
    """The OS's own reason (EACCES here; EROFS on a read-only mount) is the line's end."""
    assert not run(shell, "%gpt save /sys/x.json").success
    assert capsys.readouterr().err in (
        "UsageError: Cannot save to /sys/x.json: Permission denied.\n",
        "UsageError: Cannot save to /sys/x.json: Read-only file system.\n",  # some containers
    )
