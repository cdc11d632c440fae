"""In a real ipykernel: interrupts, non-interactive key handling, what reaches the frontend."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from jupyter_client.manager import start_new_kernel

from gptmagic.testing.notebook import patched_environ, this_python_kernel
from gptmagic.testing.server import Reply, lorem
from tests.conftest import KEY


@pytest.fixture
def kernel(server):
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
    with this_python_kernel() as name, patched_environ(env):
        km, kc = start_new_kernel(kernel_name=name)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(
    kc,
    code: str,
    timeout: float = 30,
    *,
    cell_id: str | None = "cell-1",
    allow_stdin=None,
    on_message=None,
) -> tuple[dict, list[dict]]:
    """Run ``code``; the execute reply and every iopub message of that execution.

    Sent as JupyterLab sends it (with the cell's id); ``cell_id=None`` is how jupyter console
    sends it, and ``allow_stdin=False`` how nbclient does. ``on_message`` sees each message as
    it arrives (to act at a known point of the run).
    """
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": kc.allow_stdin if allow_stdin is None else allow_stdin,
        "stop_on_error": True,
    }
    metadata = {"cellId": cell_id} if cell_id else {}
    request = kc.session.msg("execute_request", content, metadata=metadata)
    kc.shell_channel.send(request)
    msg_id = request["header"]["msg_id"]
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if on_message is not None:
            on_message(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:  # a kernel_info reply left over from start-up may come first under load
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], messages


def shows(msg, text: str) -> bool:
    data = msg["content"].get("data", {}) if msg["msg_type"].endswith("display_data") else {}
    return text in data.get("text/markdown", "")


def stderr(messages) -> str:
    return "".join(
        m["content"]["text"]
        for m in messages
        if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
    )


def shown_error(messages) -> str:
    """The failed cell's error output as the frontend draws it (its traceback lines)."""
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1, errors
    return "\n".join(errors[0]["traceback"])


def test_interrupt_in_a_kernel_stops_the_stream_and_the_kernel_goes_on(kernel, server):
    km, kc = kernel
    execute(kc, "%load_ext gptmagic")
    # One token, then the server holds the stream; interrupt once the frontend shows it.
    server.enqueue(Reply(text="Once upon a time", stall=30))
    interrupted = []

    def interrupt_once_shown(msg):
        if not interrupted and shows(msg, "Once"):
            interrupted.append(msg)
            km.interrupt_kernel()

    reply, messages = execute(kc, "%%gpt\ntell me a long story", on_message=interrupt_once_shown)
    assert interrupted and reply["status"] == "error"
    assert shown_error(messages).startswith("UsageError: Interrupted")
    finals = [m for m in messages if m["msg_type"] == "display_data"]
    meta = finals[-1]["content"]["metadata"]["gptmagic"]
    assert meta["status"] == "interrupted"
    assert finals[-1]["content"]["data"]["text/plain"] == "Once "
    reply, messages = execute(kc, "%%gpt\nare you still there?")
    assert reply["status"] == "ok"
    assert len(server.chat_requests) == 2
    sent = server.chat_requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]


def test_missing_key_in_a_non_interactive_kernel_fails_fast(kernel):
    _, kc = kernel
    execute(kc, "%load_ext gptmagic")
    execute(kc, "import os; del os.environ['OPENAI_API_KEY']")
    execute(kc, "%config GPTMagic.base_url = 'https://api.example.invalid/v1'")
    kc.allow_stdin = False
    reply, messages = execute(kc, "%%gpt\nhello", timeout=20)
    assert reply["status"] == "error"
    assert shown_error(messages).startswith("UsageError: No API key")
    assert len(shown_error(messages).splitlines()) == 1


def test_an_error_is_one_error_output_carrying_the_one_line(kernel):
    """papermill reports a failed cell by its error output: it must hold the message."""
    _, kc = kernel
    execute(kc, "%load_ext gptmagic")
    reply, messages = execute(kc, "%%gpt -t 5\nhello")
    message = "argument -t/--temperature: must be between 0 and 2, got 5"
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert [(e["ename"], e["evalue"], e["traceback"]) for e in errors] == [
        ("UsageError", message, [f"UsageError: {message}"])
    ]
    assert (reply["status"], reply["ename"], reply["evalue"]) == ("error", "UsageError", message)
    assert stderr(messages) == ""  # shown once, as the error output


def test_load_ext_does_not_import_openai(kernel):
    _, kc = kernel
    _, messages = execute(kc, "%load_ext gptmagic\nimport sys; print('openai' in sys.modules)")
    out = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
    assert out.strip().endswith("False")


# What %load_ext imports: the magics, their settings and the kernel's session. Everything else
# (the SDK, the chat cell, formatting the last exception, ...) waits for first use, so that
# loading stays cheap (bench/RESULTS.md, item 1).
LOADED_BY_LOAD_EXT = [
    "gptmagic",
    "gptmagic.arguments",
    "gptmagic.backends",
    "gptmagic.errors",
    "gptmagic.extension",
    "gptmagic.hooks",
    "gptmagic.magics",
    "gptmagic.session",
    "gptmagic.settings",
]
_LOADED = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
def state():
    from gptmagic import settings
    modules = sorted(m for m in sys.modules if m.split(".")[0] == "gptmagic")
    return modules, settings.snapshot_class.cache_info().currsize
shell.run_cell("%load_ext gptmagic")
shell.run_cell("x = 1")
loaded = state()
shell.run_cell("1 / 0")
shell.run_cell("%gpt")
print(json.dumps([loaded, state()]))
"""


def test_load_ext_imports_only_what_registering_the_magics_needs():
    done = subprocess.run([sys.executable, "-c", _LOADED], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded, used = json.loads(done.stdout.splitlines()[-1])
    assert loaded == [LOADED_BY_LOAD_EXT, 0]  # no Snapshot class built either
    # a failing cell formats its exception, and the first command builds the settings' Snapshot
    assert "gptmagic.lasterror" in used[0] and used[1] == 1


def test_streaming_updates_reach_the_frontend_in_place(kernel, server):
    _, kc = kernel
    execute(kc, "%load_ext gptmagic")
    server.enqueue(Reply(tokens=300, chunk_delay=0.005))
    _, messages = execute(kc, "%%gpt\nwrite")
    kinds = [m["msg_type"] for m in messages]
    assert kinds.count("update_display_data") >= 2
    assert "clear_output" in kinds
    assert kinds[-2] == "display_data"  # the final output, just before idle


def stdout(messages) -> list[str]:
    return [
        m["content"]["text"]
        for m in messages
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    ]


def test_a_console_gets_the_answer_as_text_while_it_streams_with_notes_and_usage(kernel, server):
    """jupyter console prints stream text and ignores Markdown displays and their updates."""
    _, kc = kernel
    execute(kc, "%load_ext gptmagic", cell_id=None)
    server.enqueue(Reply(tokens=60, chunk_delay=0.02, finish_reason="length"))
    reply, messages = execute(kc, "%%gpt\nwrite", cell_id=None)
    assert reply["status"] == "ok"
    kinds = [m["msg_type"] for m in messages]
    assert "update_display_data" not in kinds and "display_data" not in kinds
    pieces = stdout(messages)
    assert len(pieces) >= 2, "the text should arrive while it streams, not only at the end"
    printed = "".join(pieces)
    assert printed.startswith(lorem(60))
    assert "no max_tokens was set" in printed  # the notes...
    assert "kernel total" in printed  # ...and the usage line reach the console


def test_headless_runs_without_input_still_get_markdown(kernel, server):
    """nbclient and papermill send no cell id but allow no input: a notebook is being saved."""
    _, kc = kernel
    execute(kc, "%load_ext gptmagic", cell_id=None, allow_stdin=False)
    _, messages = execute(kc, "%%gpt\nwrite", cell_id=None, allow_stdin=False)
    finals = [m for m in messages if m["msg_type"] == "display_data"]
    assert finals and "text/markdown" in finals[-1]["content"]["data"]
    assert stdout(messages) == []


def test_display_text_can_be_forced_in_a_notebook(kernel, server):
    _, kc = kernel
    execute(kc, "%load_ext gptmagic\n%config GPTMagic.display = 'text'")
    _, messages = execute(kc, "%%gpt\nwrite")
    assert "display_data" not in [m["msg_type"] for m in messages]
    assert "Answer 1 from gpt-4o-mini" in "".join(stdout(messages))
