"""The API key never appears anywhere: outputs, saved notebooks, exports, errors, reprs."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from urllib.parse import quote, urlencode

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from gptmagic.errors import redact
from gptmagic.session import Secret
from gptmagic.testing.notebook import execute
from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import KEY, interrupt_when, run

FAILURES = [
    Reply(status=401),
    Reply(status=400, error={"error": {"message": f"invalid header: Bearer {KEY}"}}),
    Reply(status=429, headers={"Retry-After": "0"}),
    Reply(status=503, headers={"Retry-After": "0"}),
    Reply(tokens=30, drop_after=5),
    Reply(tokens=30, malformed_after=5),
]


def every_command(export_dir) -> list[str]:
    ok = [
        "%load_ext gptmagic",
        "%config GPTMagic.max_retries = 0",
        "%%gpt\nhello",
        "%gpt",
        "%config GPTMagic",
        "%gpt models",
        "%gpt usage",
        "%gpt history",
        "%%gpt --dry-run\nwhat would you send?",
        "%%gpt -n 2 -t 0.3 --max-tokens 5 -o answer\nagain",
        "print(repr(get_ipython().magics_manager.registry['GPTMagic'].session))",
        "print(get_ipython().magics_manager.registry['GPTMagic'].trait_values())",
        f"%gpt save {export_dir}/chat.json",
        f"%gpt save {export_dir}/chat.md",
        f"%gpt save {export_dir}/chat.ipynb",
    ]
    failing = ["%%gpt\nthis one fails"] * len(FAILURES) + [
        "%%gpt -m no-such-model\nhello",
        "%%gpt -t 9\nbad option",
        "%gpt load /nonexistent.json",
    ]
    return ok + failing


def test_the_key_is_nowhere_after_every_command_and_failure(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    path = tmp_path / "all.ipynb"
    cells = [new_code_cell(source) for source in every_command(exports)]
    nbformat.write(new_notebook(cells=cells), path)
    with FakeOpenAI(api_key=KEY, lifetime=120) as server:
        server.enqueue(*[Reply(), Reply()])  # the two successful chats come first
        server.enqueue(*FAILURES)
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        nb = execute(path, env, allow_errors=True)
    nbformat.write(nb, path)
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert len(errors) >= len(FAILURES) + 3, "every failure path should have run"
    written = [path, *exports.iterdir()]
    assert len(written) == 4
    for file in written:
        text = file.read_text()
        assert KEY not in text, file
        assert KEY[3:-3] not in text, file


def test_the_key_is_masked_in_interpolated_values_and_errors(shell, server, outputs):
    run(shell, "import os; env = dict(os.environ)")
    run(shell, "raise ValueError(os.environ['OPENAI_API_KEY'])")
    assert run(shell, "%%gpt\n{env} and {_error}").success
    sent = server.chat_requests[-1].body["messages"][-1]["content"]
    assert KEY not in sent and "***" in sent
    assert KEY not in str(outputs.outputs)


def test_credentials_in_the_base_url_are_never_shown_as_the_host():
    from gptmagic.client import Endpoint

    endpoint = Endpoint.resolve("https://alice:s3cret@gateway.example.com:8443/v1", "", 5)
    assert endpoint.host == "gateway.example.com:8443"


# -- helpers ---------------------------------------------------------------------------------
OTHER = "sk-env-OTHER-0a1b2c3d4e5f"  # a second key, for precedence


def error_line(capsys) -> str:
    """The one UsageError line IPython printed (and no traceback)."""
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    lines = [line for line in printed.err.splitlines() if line.startswith("UsageError:")]
    assert len(lines) == 1, printed
    return lines[0]


def type_key(monkeypatch, shell, key: str) -> None:
    """``%gpt key`` with ``key`` typed at the hidden prompt."""
    monkeypatch.setattr("getpass.getpass", lambda prompt: key)
    assert run(shell, "%gpt key").success


def everything_shown_about(exc: BaseException | None) -> str:
    """The locals of every frame %debug (or a verbose traceback) can reach, chained ones too."""
    seen: list[str] = []
    while exc is not None:
        tb = exc.__traceback__
        while tb is not None:
            seen += [f"{name}={value!r}" for name, value in tb.tb_frame.f_locals.items()]
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return "\n".join(seen)


# -- 1. every form of the key is masked; whitespace around it is stripped --------------------
@pytest.mark.parametrize("around", [("", "\n"), ("", "\r\n"), (" ", " \t\n")])
def test_a_key_with_whitespace_around_it_is_sent_stripped(shell, server, monkeypatch, around):
    before, after = around
    monkeypatch.setenv("OPENAI_API_KEY", f"{before}{KEY}{after}")
    assert run(shell, "%%gpt\nhello").success
    assert [r.headers["authorization"] for r in server.chat_requests] == [f"Bearer {KEY}"]


@pytest.mark.parametrize(
    "inside, what",
    [
        ("\n", "a line break"),
        ("é", "a non-ASCII character"),
        ("\x1b", "a control"),
        (" ", "a space or tab"),  # two keys pasted as one, or one cut in two
    ],
)
def test_a_key_with_a_character_a_header_cannot_carry_is_refused_before_sending(
    shell, server, monkeypatch, capsys, inside, what
):
    monkeypatch.setenv("OPENAI_API_KEY", KEY[:12] + inside + KEY[12:])
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert f"The API key (from OPENAI_API_KEY) has {what}" in line and "(character 13)" in line
    assert KEY[3:12] not in line and KEY[12:] not in line
    assert server.chat_requests == []


KEY_FORMS = {
    "raw": lambda k: k,
    "str repr": lambda k: repr(k),
    "bytes repr": lambda k: repr(f"Bearer {k}\n".encode()),
    "JSON": lambda k: json.dumps({"key": k}),
    "URL-encoded": lambda k: quote(k, safe=""),
    "URL-encoded, lower-case hex": lambda k: quote(k, safe="").lower(),
    "form-encoded": lambda k: urlencode({"key": k}),
}


@pytest.mark.parametrize("form", KEY_FORMS.values(), ids=KEY_FORMS.keys())
def test_every_form_and_every_occurrence_of_the_key_is_masked(form):
    key = "sk-a/b+c=d\\e'f\"g"  # characters each encoding writes differently
    text = f"first {form(key)}, second {form(key)}"
    masked = redact(text, [Secret(key + "\r\n")])  # as read from a CRLF .env
    assert masked.count("***") == 2 and "c=d" not in masked and "c%3Dd" not in masked.upper()


def test_too_short_a_value_is_not_masked_so_text_stays_readable():
    assert redact("abc def", ["abc", " de "]) == "abc def"


def test_credentials_in_urls_are_masked_in_messages_but_not_in_content():
    text = "via http://alice:s3cret@proxy:3128 to https://tok@gw.example/v1 (pa@ss@h/x)"
    assert redact(text, []) == "via http://***@proxy:3128 to https://***@gw.example/v1 (pa@ss@h/x)"
    assert redact(text, [], urls=False) == text


# -- 2. no repr and no traceback shows the key -----------------------------------------------
PROXIES = [
    pytest.param("ftp://alice:s3cret@127.0.0.1:1", "Unknown scheme", id="unknown scheme"),
    pytest.param(
        "socks5://alice:s3cret@127.0.0.1:1",
        "socksio",
        id="socks without socksio",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("socksio") is not None, reason="socksio is installed"
        ),
    ),
]


@pytest.mark.parametrize("proxy, cause", PROXIES)
def test_a_proxy_that_cannot_be_set_up_is_one_line_even_in_verbose_mode(
    shell, server, capsys, proxy, cause
):
    run(shell, "%colors nocolor")
    run(shell, "%xmode Verbose")
    run(shell, f"%config GPTMagic.proxy = {proxy!r}")
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)  # no traceback printed
    assert (
        line.startswith("UsageError: Cannot set up the connection to 127.0.0.1:")
        and f"through the proxy {proxy.replace('alice:s3cret', '***')}" in line
    )
    assert cause in line and "s3cret" not in line and KEY not in line
    assert KEY not in everything_shown_about(sys.last_value)  # what %debug can reach
    assert server.chat_requests == []


def test_a_bug_in_a_verbose_traceback_shows_no_key_in_any_object(
    shell, server, capsys, monkeypatch, tmp_path
):
    """A display bug is not a gptmagic error: its traceback is shown, in full, but keyless."""
    from gptmagic.streaming import MarkdownView

    run(shell, "%colors nocolor")
    run(shell, "%xmode Verbose")
    run(shell, f"%config GPTMagic.cache = {str(tmp_path / 'c.jsonl')!r}")  # a Lookup with keys
    run(shell, "%config GPTMagic.proxy = 'http://alice:s3cret@127.0.0.1:9'")

    def broken(view, text):
        raise RuntimeError("a display bug")

    monkeypatch.setattr(MarkdownView, "status", broken)
    assert not run(shell, "%%gpt\nhello").success
    printed = capsys.readouterr()
    assert "RuntimeError" in printed.out and "self.cached = Lookup(" in printed.out
    assert "Endpoint(base_url=" in printed.out
    assert KEY not in printed.out + printed.err and "s3cret" not in printed.out + printed.err


# -- 3. a key typed in this kernel wins, and status says which key is used -------------------
def test_a_key_typed_with_gpt_key_is_sent_instead_of_the_environments(
    shell, server, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_API_KEY", OTHER)  # the server accepts only KEY
    type_key(monkeypatch, shell, KEY)
    assert "API key set for this kernel, used instead of OPENAI_API_KEY" in capsys.readouterr().out
    assert run(shell, "%%gpt\nhello").success
    assert [r.headers["authorization"] for r in server.chat_requests] == [f"Bearer {KEY}"]


def test_status_says_where_the_key_comes_from_and_never_shows_it(shell, monkeypatch, capsys):
    def key_in_status() -> str:
        run(shell, "%gpt")
        out = capsys.readouterr().out
        assert KEY not in out and OTHER not in out
        return out.split(" · key ")[1].split(".  ")[0]

    assert key_in_status() == "from OPENAI_API_KEY"
    type_key(monkeypatch, shell, OTHER)
    assert key_in_status() == "typed with %gpt key (instead of OPENAI_API_KEY)"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert key_in_status() == "typed with %gpt key"
    run(shell, "%gpt key --forget")
    assert key_in_status() == "none (local server)"  # the test server is on 127.0.0.1
    run(shell, "%config GPTMagic.base_url = 'https://api.example.invalid/v1'")
    assert key_in_status() == "not set"


def test_forgetting_the_typed_key_sends_the_environments_again(shell, server, monkeypatch, capsys):
    type_key(monkeypatch, shell, OTHER)
    assert run(shell, "%gpt key --forget").success
    assert "Typed key forgotten; key now: from OPENAI_API_KEY." in capsys.readouterr().out
    assert run(shell, "%%gpt\nhello").success
    assert server.chat_requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_ctrl_c_at_the_hidden_key_prompt_is_one_line_and_keeps_the_key_in_use(
    shell, server, monkeypatch, capsys
):
    """A notebook's input box (or a terminal's) waiting for the key: Ctrl-C stops it with
    one line, not a KeyboardInterrupt traceback, and the key typed before stays in use."""
    monkeypatch.setenv("OPENAI_API_KEY", OTHER)  # the server accepts only KEY
    type_key(monkeypatch, shell, KEY)
    waiting, replied = threading.Event(), threading.Event()

    def hidden_prompt(prompt):  # like ipykernel: blocks until the frontend replies
        waiting.set()
        time.sleep(30)
        replied.set()  # not reached when Ctrl-C ends the wait
        return "sk-never-typed-000000000000"

    monkeypatch.setattr("getpass.getpass", hidden_prompt)
    interrupt_when(waiting)
    assert not run(shell, "%gpt key").success
    assert not replied.is_set()
    assert error_line(capsys) == (
        "UsageError: Interrupted: no key was entered; the key in use is unchanged."
    )
    assert run(shell, "%%gpt\nhello").success
    assert server.chat_requests[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "[::1]:8000", "[::1]"])
def test_a_local_server_needs_no_key(host, monkeypatch):
    from gptmagic.apikey import PLACEHOLDER, known_key
    from gptmagic.session import KernelSession

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert known_key(KernelSession(), host) == Secret(PLACEHOLDER)
    assert known_key(KernelSession(), "[2001:db8::1]:8000") is None


# -- 5. an echoed key is masked wherever it goes ---------------------------------------------
def test_a_key_echoed_twice_in_one_server_message_is_masked_both_times(shell, server, capsys):
    server.enqueue(Reply(status=400, error={"error": {"message": f"bad: {KEY}, again {KEY}."}}))
    assert not run(shell, "%%gpt\nhello").success
    line = error_line(capsys)
    assert line.endswith("refused the request (400): bad: ***, again ***.")


def test_a_key_typed_with_gpt_key_is_masked_in_errors(shell, server, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY")
    type_key(monkeypatch, shell, KEY)
    capsys.readouterr()
    server.enqueue(Reply(status=400, error={"error": {"message": f"bad: {KEY}"}}))
    assert not run(shell, "%%gpt\nhello").success
    assert error_line(capsys).endswith("refused the request (400): bad: ***")


@pytest.mark.parametrize("source", ["environment", "typed"])
def test_a_key_inside_an_answer_is_masked_before_it_is_shown_or_recorded(
    shell, server, outputs, monkeypatch, tmp_path, source
):
    if source == "typed":
        monkeypatch.delenv("OPENAI_API_KEY")
        type_key(monkeypatch, shell, KEY)
    cache = tmp_path / "answers.gptcache.jsonl"
    run(shell, f"%config GPTMagic.cache = {str(cache)!r}")
    server.enqueue(Reply(text=f"Your key is {KEY} (yes, {KEY})."))
    assert run(shell, f"%%gpt -o answer\nIs {KEY} my key?").success  # typed into the prompt
    assert shell.user_ns["answer"] == "Your key is *** (yes, ***)."
    assert KEY not in cache.read_text() and "Your key is *** (yes, ***)." in cache.read_text()
    assert KEY not in json.dumps(outputs.outputs)


# -- 14. magic lines are never evaluated; their free text follows the body's rules -----------
def test_every_gptmagic_magic_opts_out_of_ipython_line_expansion(shell):
    from IPython.core.magic import MAGIC_NO_VAR_EXPAND_ATTR

    magics = shell.magics_manager.magics
    for kind, name in [
        ("line", "gpt"),
        ("cell", "gpt"),
        ("line", "gptimage"),
        ("cell", "gptimage"),
    ]:
        assert getattr(magics[kind][name], MAGIC_NO_VAR_EXPAND_ATTR, False), (kind, name)


def test_braces_on_the_chat_line_are_never_evaluated(shell, server):
    run(shell, "calls = []")
    system = 'sum {1+1} and {len("abc")} {calls.append(1)} $calls'
    assert run(shell, f"%%gpt -s '{system}'\nhello").success
    assert server.chat_requests[-1].body["messages"][0] == {"role": "system", "content": system}
    assert shell.user_ns["calls"] == []


def test_the_status_line_is_never_evaluated(shell, capsys):
    run(shell, "calls = []")
    assert not run(shell, "%gpt {calls.append(1)}").success
    assert "Unknown %gpt subcommand '{calls.append(1)}'" in error_line(capsys)
    assert shell.user_ns["calls"] == []


def test_a_name_in_the_system_prompt_is_filled_in_and_a_key_in_it_masked_like_the_body(
    shell, server
):
    run(shell, "import os; tone = 'terse'; key = os.environ['OPENAI_API_KEY']")
    assert run(shell, "%%gpt -s 'Be {tone}. Key: {key}'\nKey: {key}").success
    messages = server.chat_requests[-1].body["messages"]
    assert [m["content"] for m in messages] == ["Be terse. Key: ***", "Key: ***"]


def test_an_unknown_name_in_the_system_prompt_sends_nothing(shell, server, capsys):
    assert not run(shell, "%%gpt -s 'Be {tone}'\nhello").success
    assert "Unknown name 'tone' in {tone}" in error_line(capsys)
    assert server.chat_requests == []


@pytest.mark.parametrize("cell", [False, True], ids=["%gptimage", "%%gptimage"])
def test_the_image_prompt_gets_the_body_rules_and_nothing_is_evaluated(shell, server, cell):
    run(shell, "import os; animal = 'fox'; calls = []; key = os.environ['OPENAI_API_KEY']")
    prompt = "a {animal} with {key} counting {len(calls)} {calls.append(1)}"
    assert run(shell, f"%%gptimage\n{prompt}" if cell else f"%gptimage {prompt}").success
    [request] = [r for r in server.requests if r.path == "/v1/images/generations"]
    assert request.body["prompt"] == "a fox with *** counting {len(calls)} {calls.append(1)}"
    assert shell.user_ns["calls"] == []


def test_a_key_typed_after_a_refused_one_is_sent_from_the_next_cell(shell, server, monkeypatch):
    """The kernel keeps its client between cells; a new key must not reuse the old one's."""
    monkeypatch.setenv("OPENAI_API_KEY", OTHER)  # the server accepts only KEY
    assert not run(shell, "%%gpt\nhello").success
    type_key(monkeypatch, shell, KEY)
    assert run(shell, "%%gpt\nhello").success
    sent = [r.headers["authorization"] for r in server.chat_requests]
    assert sent == [f"Bearer {OTHER}", f"Bearer {KEY}"]


def test_status_of_a_local_ipv6_server_shows_its_host_and_asks_no_key(shell, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY")
    run(shell, "%config GPTMagic.base_url = 'http://[::1]:8000/v1'")
    capsys.readouterr()
    assert run(shell, "%gpt").success  # status only: nothing is sent
    line = capsys.readouterr().out
    assert " at [::1]:8000 · " in line and " key none (local server)." in line


_MALFORMED_WITH_KEY = {
    # a response.failed whose response is not an object, quoting the key
    "responses": json.dumps({"type": "response.failed", "response": [KEY]}),
    # a chat chunk whose choice is not an object
    "chat": json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [KEY]}),
}


@pytest.mark.parametrize("api", sorted(_MALFORMED_WITH_KEY))
def test_a_malformed_chunk_quoting_the_key_is_named_with_the_key_masked(
    shell, server, outputs, capsys, api
):
    # The 'malformed chunk (…)' line quoted the chunk's value unmasked, in the cell's
    # warning and in the UsageError.
    run(shell, f"%config GPTMagic.api = {api!r}")
    server.enqueue(Reply(raw_chunks=[_MALFORMED_WITH_KEY[api], "[DONE]"]))
    result = run(shell, "%%gpt\nq")
    captured = capsys.readouterr()
    assert not result.success
    assert "the server sent a malformed chunk (" in captured.err and "'***'" in captured.err
    assert KEY not in captured.out + captured.err
    assert KEY[:12] not in json.dumps(outputs.outputs)


def test_an_unreadable_answer_at_once_quoting_the_key_is_named_with_the_key_masked(
    shell, server, capsys
):
    server.enqueue(Reply(raw_body=json.dumps({"id": "c", "choices": [KEY]})))
    result = run(shell, "%%gpt --no-stream\nq")
    err = capsys.readouterr().err
    assert not result.success and "sent an answer gptmagic cannot read" in err
    assert KEY not in err and "'***'" in err
