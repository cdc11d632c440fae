"""Shared notebooks: re-run from the committed cache with no key and no network, render
without a kernel, and never carry the key.

``notebooks/shared_example.ipynb`` is committed executed (recorded once against the local
server by ``python -m gptmagic.testing.example``), with its cache file next to it.
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell

from gptmagic.testing.example import RECORD_PORT, cache_path
from gptmagic.testing.notebook import execute
from gptmagic.testing.server import FakeOpenAI
from tests.conftest import KEY

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
EXAMPLE = NOTEBOOKS / "shared_example.ipynb"
READABLE = {"text/markdown", "text/plain", "image/png", "image/jpeg", "image/webp"}


def nothing_listens_on(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


REPLAY_PORT = 9  # not the recording's port: replay works with any base URL


@pytest.fixture(scope="module")
def replayed():
    """The example re-executed in replay mode, with no key, against another address where
    nothing listens (a request that escaped the cache would fail)."""
    assert nothing_listens_on(REPLAY_PORT), f"port {REPLAY_PORT} must be closed for this test"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        patch.delenv("GPTMAGIC_CACHE", raising=False)
        patch.setenv("GPTMAGIC_CACHE_MODE", "replay")
        patch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{REPLAY_PORT}/v1")
        return execute(EXAMPLE, {})


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def answer_outputs(nb) -> list[dict]:
    return [
        cell.outputs[0]
        for cell in nb.cells
        if cell.cell_type == "code" and cell.source.startswith("%%gpt")
    ]


def test_the_example_replays_byte_for_byte_with_no_key_and_no_network(replayed):
    recorded = answer_outputs(nbformat.read(EXAMPLE, as_version=4))
    again = answer_outputs(replayed)
    assert len(again) == len(recorded) == 3
    for old, new in zip(recorded, again, strict=True):
        assert new.data["text/plain"].encode() == old.data["text/plain"].encode()
        # The same answer; only the usage line differs: a replay is not billed (issue 11.23).
        old_body, old_footer = old.data["text/markdown"].rsplit("\n\n<sub>", 1)
        new_body, new_footer = new.data["text/markdown"].rsplit("\n\n<sub>", 1)
        assert new_body.endswith(old_body)
        assert "not billed" in new_footer and "kernel total 0<" in new_footer
        assert "not billed" not in old_footer
        assert new.metadata["gptmagic"]["replayed"] is True
        assert "replayed" not in old.metadata["gptmagic"]


def image_outputs(nb) -> list[dict]:
    return [
        output
        for cell in nb.cells
        if cell.cell_type == "code" and cell.source.startswith("%gptimage")
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]


def test_the_replayed_answers_say_which_server_recorded_them(replayed):
    recorded_at = f"127.0.0.1:{RECORD_PORT}"
    outputs = answer_outputs(replayed) + image_outputs(replayed)
    assert len(outputs) == 4
    for output in outputs:
        assert output.metadata["gptmagic"]["recorded_host"] == recorded_at
        assert output.metadata["gptmagic"]["host"] == f"127.0.0.1:{REPLAY_PORT}"
    for output in answer_outputs(replayed):
        assert f" against {recorded_at}); nothing was sent." in output.data["text/markdown"]


def test_the_example_replays_its_images_byte_for_byte(replayed):
    recorded = image_outputs(nbformat.read(EXAMPLE, as_version=4))
    again = image_outputs(replayed)
    assert len(again) == len(recorded) == 1
    assert again[0].data["image/png"] == recorded[0].data["image/png"]
    assert again[0].metadata["gptmagic"]["replayed"] is True


def test_the_committed_cache_holds_one_readable_line_per_answer():
    lines = cache_path(EXAMPLE).read_text(encoding="utf-8").splitlines()
    example = nbformat.read(EXAMPLE, as_version=4)
    assert len(lines) == len(answer_outputs(example)) + len(image_outputs(example))
    assert all(line.startswith('{"key": "') for line in lines)


def test_the_executed_notebook_renders_to_html_without_kernel_widgets_or_javascript(replayed):
    for cell in replayed.cells:
        for output in cell.get("outputs", []):
            assert set(output.get("data", {})) <= READABLE, output
    assert "widgets" not in replayed.metadata
    html, _ = HTMLExporter().from_notebook_node(replayed)
    outputs = html.split('jp-OutputArea-output" data-mime-type="text/markdown"')[1:]
    table, code, math = (output.split('<div class="jp-Cell')[0] for output in outputs[:3])
    assert not any("<script" in output for output in (table, code, math))
    assert "<table>" in table and "<td>multi-threaded, query optimiser</td>" in table
    assert "<pre>" in code and "def zscores(values: pd.Series)" in text_of(code)
    assert r"\sqrt{\frac{1}{n-1}" in math  # TeX as text: readable, typeset where supported
    assert "Replayed from shared_example.gptcache.jsonl" in text_of(table)
    assert html.count('src="data:image/png;base64,') == 1


def test_the_quickstart_recorded_and_exported_never_writes_the_key(tmp_path):
    """Run the quickstart with recording on, save it and export the conversation in every
    format, then scan every file written (IPython's own files included) for the key."""
    notebook = tmp_path / "quickstart.ipynb"
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", notebook)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells += [new_code_cell(f"%gpt save chat{suffix}") for suffix in (".json", ".md", ".ipynb")]
    nbformat.write(nb, notebook)
    cache = tmp_path / "quickstart.gptcache.jsonl"
    with FakeOpenAI(api_key=KEY, lifetime=120) as server:
        env = {
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": server.base_url,
            "GPTMAGIC_CACHE": str(cache),
            "GPTMAGIC_CACHE_MODE": "record",
            "IPYTHONDIR": str(tmp_path / "ipython"),
        }
        executed = execute(notebook, env)
    nbformat.write(executed, notebook)
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.name for path in written}
    assert {"quickstart.ipynb", cache.name, "chat.json", "chat.md", "chat.ipynb"} <= names
    answers = [r for r in server.requests if r.method == "POST"]  # chats and images
    assert len(cache.read_text(encoding="utf-8").splitlines()) == len(answers) > 0
    for path in written:
        data = path.read_bytes()
        assert KEY.encode() not in data and KEY[3:-3].encode() not in data, path
