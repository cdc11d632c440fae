"""The API key never appears anywhere: outputs, saved notebooks, exports, errors, reprs."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from gptmagic.testing.notebook import execute
from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import KEY

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
    errors = [o for c in nb.cells for o in c.outputs if o.get("name") == "stderr"]
    assert len(errors) >= len(FAILURES) + 3, "every failure path should have run"
    written = [path, *exports.iterdir()]
    assert len(written) == 4
    for file in written:
        text = file.read_text()
        assert KEY not in text, file
        assert KEY[3:-3] not in text, file


def test_the_key_is_masked_in_interpolated_values_and_errors(shell, server, outputs):
    from tests.conftest import run

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
