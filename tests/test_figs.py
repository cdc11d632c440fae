"""``{fig}`` in a ``%%gpt`` prompt: a chart, a PIL image or PNG/JPEG bytes sent as an image
part, over real HTTP through the real SDK, and everything around it: history, follow-ups,
exports, the dry run, the replay cache, a model without vision, and the Responses API."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.figure
import nbformat
import pytest
from nbconvert import HTMLExporter
from PIL import Image

from gptmagic import pictures
from gptmagic.content import (
    IMAGE_BASE_TOKENS,
    IMAGE_TILE_TOKENS,
    image_tokens,
    shorten_data_urls,
)
from gptmagic.conversation import Message
from gptmagic.pictures import png_size
from gptmagic.session import session_for
from gptmagic.testing.server import render_png
from gptmagic.tokens import MESSAGE_OVERHEAD
from tests.conftest import run


def chart() -> matplotlib.figure.Figure:
    """A 4×3 in figure at 100 dpi: 400×300 px before bbox_inches='tight' trims it."""
    fig = matplotlib.figure.Figure(figsize=(4, 3), dpi=100)
    fig.add_subplot().plot([1, 2, 3], [3, 1, 2])
    return fig


def decoded(part: dict) -> bytes:
    url = part["image_url"]["url"]
    head, _, data = url.partition(",")
    assert head == "data:image/png;base64"
    return base64.b64decode(data, validate=True)


def ok(shell, source: str) -> None:
    result = run(shell, source)
    assert result.success, result.error_in_exec


def conversation(shell):
    return session_for(shell).conversation


# -- what is sent ---------------------------------------------------------------------------
def test_a_figure_is_sent_as_an_image_part_between_the_text_parts(shell, server):
    fig = chart()
    shell.user_ns["fig"] = fig
    ok(shell, "%%gpt\nWhat does this chart show? {fig} Answer briefly.")
    [request] = server.chat_requests
    content = request.body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text"]
    assert content[0] == {"type": "text", "text": "What does this chart show? "}
    assert content[2] == {"type": "text", "text": " Answer briefly."}
    assert content[1]["image_url"]["detail"] == "auto"
    png = decoded(content[1])
    assert png.startswith(pictures.PNG_SIGNATURE)
    width, height = png_size(png)
    assert 300 < width <= 400 and 200 < height <= 300  # the figure, trimmed by bbox "tight"
    assert Image.open(io.BytesIO(png)).size == (width, height)


def test_half_an_emoji_beside_a_picture_is_sent_as_a_replacement_character(shell, server):
    shell.user_ns["fig"] = chart()
    shell.user_ns["label"] = "sales \ud83d"
    ok(shell, "%%gpt\n{label}: {fig}")
    content = server.chat_requests[0].body["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "sales \ufffd: "}


def test_a_pil_image_is_sent_at_its_own_size(shell, server):
    shell.user_ns["photo"] = Image.new("RGB", (64, 48), (200, 30, 30))
    ok(shell, "%%gpt\n{photo}\nWhat colour is it?")
    content = server.chat_requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["image_url", "text"]
    assert content[1]["text"] == "\nWhat colour is it?"
    assert png_size(decoded(content[0])) == (64, 48)


def test_webp_bytes_from_an_image_server_are_sent_as_png(shell, server):
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (10, 200, 10)).save(out, format="WEBP", lossless=True)
    shell.user_ns["img"] = out.getvalue()  # what %gptimage -o keeps when the server sent WebP
    ok(shell, "%%gpt\nWhat colour? {img}")
    content = server.chat_requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url"]
    image = Image.open(io.BytesIO(decoded(content[1])))
    assert image.size == (30, 20) and image.convert("RGB").getpixel((0, 0)) == (10, 200, 10)


def test_an_image_over_the_side_cap_is_scaled_to_the_setting(shell, server):
    shell.user_ns["photo"] = Image.new("RGB", (640, 320), (0, 90, 200))
    ok(shell, "%config GPTMagic.image_prompt_max_side = 100")
    ok(shell, "%%gpt\nDescribe {photo}")
    part = server.chat_requests[0].body["messages"][-1]["content"][1]
    assert png_size(decoded(part)) == (100, 50)


@pytest.mark.parametrize(
    ("name", "default"), [("image_prompt_max_side", 2048), ("image_prompt_max_bytes", 5_000_000)]
)
def test_the_image_caps_must_be_positive(shell, name, default, caplog):
    run(shell, f"%config GPTMagic.{name} = 0")
    assert f"GPTMagic.{name} must be > 0" in caplog.text
    assert getattr(shell.magics_manager.registry["GPTMagic"], name) == default
    run(shell, f"%config GPTMagic.{name} = 1")
    assert getattr(shell.magics_manager.registry["GPTMagic"], name) == 1


def test_a_value_whose_class_cannot_be_read_is_one_line_not_a_traceback(shell, server):
    """A lazy object (Django's unconfigured ``settings``) raises when asked for __class__:
    telling pictures from text must not crash the cell; its reading fails in one line."""

    class Lazy:
        @property
        def __class__(self):
            raise RuntimeError("settings are not configured")

    shell.user_ns["settings"] = Lazy()
    result = run(shell, "%%gpt\nWhat is {settings}?")
    assert str(result.error_in_exec) == (
        "Cannot read {settings}: RuntimeError: settings are not configured. Nothing was sent."
    )
    assert server.requests == []


def test_a_prompt_without_a_picture_is_sent_as_the_same_plain_string(shell, server):
    shell.user_ns["rows"] = [1, 2, 3]
    ok(shell, "%%gpt\nSum {rows}")
    assert server.chat_requests[0].body["messages"] == [
        {"role": "user", "content": "Sum [1, 2, 3]"}
    ]


def test_a_picture_in_a_system_prompt_is_a_one_line_error_and_nothing_is_sent(
    shell, server, capsys
):
    shell.user_ns["fig"] = chart()
    result = run(shell, '%%gpt -s "Look at {fig}"\nhello')
    err = capsys.readouterr().err
    assert not result.success and err.startswith("UsageError:") and "Traceback" not in err
    assert "{fig} is an image: only the prompt in a %%gpt cell can send one" in err
    assert server.chat_requests == []


def test_the_responses_api_sends_the_picture_as_input_image(shell, server):
    shell.user_ns["fig"] = chart()
    ok(shell, "%config GPTMagic.api = 'responses'")
    ok(shell, "%%gpt\nWhat does {fig} show?")
    [request] = server.responses_requests
    [message] = request.body["input"]
    kinds = [p["type"] for p in message["content"]]
    assert kinds == ["input_text", "input_image", "input_text"]
    url = message["content"][1]["image_url"]
    assert url.startswith("data:image/png;base64,iVBORw0KGgo")  # a PNG's signature


# -- a model without vision ----------------------------------------------------------------
def test_a_model_without_vision_is_a_one_line_error_naming_the_picture(shell, server, capsys):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nfirst")
    result = run(shell, "%%gpt -m o-reason\nWhat does {fig} show?")
    err = capsys.readouterr().err
    assert not result.success and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line == (
        f"UsageError: o-reason at 127.0.0.1:{server.base_url.split(':')[2].split('/')[0]} does "
        "not accept images in prompts ({fig}); use a vision model (-m gpt-4o) or leave the "
        "image out."
    )
    assert len(conversation(shell).turns) == 1  # the refused turn was not stored


def test_a_model_without_vision_is_the_same_one_line_error_through_the_responses_api(
    shell, server, capsys
):
    run(shell, "%config GPTMagic.api = 'responses'")
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nfirst")
    result = run(shell, "%%gpt -m o-reason\nWhat does {fig} show?")
    [line] = capsys.readouterr().err.strip().splitlines()
    assert not result.success
    assert line.startswith("UsageError: o-reason at 127.0.0.1:")
    assert line.endswith(
        "does not accept images in prompts ({fig}); use a vision model (-m gpt-4o) or leave "
        "the image out."
    )
    assert [r.path for r in server.requests] == ["/v1/responses", "/v1/responses"]
    assert len(conversation(shell).turns) == 1  # the refused turn was not stored


def test_a_model_without_vision_names_an_earlier_turns_image_as_the_cause(shell, server, capsys):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    capsys.readouterr()
    result = run(shell, "%%gpt -m o-reason\nSummarise.")
    [line] = capsys.readouterr().err.strip().splitlines()
    assert not result.success and "does not accept images in prompts;" in line
    assert line.endswith(
        "The image is in an earlier turn: leave it out with --no-history or --new."
    )
    ok(shell, "%%gpt -m o-reason --no-history\nSummarise.")
    assert server.chat_requests[-1].body["messages"] == [{"role": "user", "content": "Summarise."}]


def test_a_picture_in_a_gptimage_prompt_is_a_one_line_error(shell, server, capsys):
    shell.user_ns["photo"] = Image.new("RGB", (8, 8))
    result = run(shell, "%gptimage a poster like {photo}")
    err = capsys.readouterr().err
    assert not result.success and "{photo} is an image: only the prompt in a %%gpt cell" in err
    assert server.requests == []


def test_code_mode_appends_its_instruction_after_the_picture(shell, server):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt --code\nRecreate {fig}")
    content = server.chat_requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text"]
    assert content[2]["text"].startswith("\n\n(Answer with Python code")


# -- the conversation ----------------------------------------------------------------------
def test_a_follow_up_sends_the_earlier_image_again(shell, server):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    ok(shell, "%%gpt\nAnd the second panel?")
    first, second = server.chat_requests
    assert second.body["messages"][0] == first.body["messages"][0]
    assert second.body["messages"][-1] == {"role": "user", "content": "And the second panel?"}


def test_an_image_is_estimated_by_openais_tile_count():
    assert image_tokens(1024, 1024) == IMAGE_BASE_TOKENS + 4 * IMAGE_TILE_TOKENS == 765
    assert image_tokens(2048, 4096) == 1105  # OpenAI's example: 768×1536, 6 tiles
    assert image_tokens(300, 200) == IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS  # never scaled up
    assert image_tokens(2048, 4096, "low") == IMAGE_BASE_TOKENS


def test_a_message_with_an_image_estimates_text_and_image_from_its_header():
    photo = pictures.as_picture(Image.new("RGB", (1024, 1024), (1, 2, 3)), "photo")
    content = pictures.text_and_images(["12345678", photo])
    assert Message("user", content).tokens == 2 + 765 + MESSAGE_OVERHEAD


def test_trimming_drops_the_turn_with_the_image(shell, server):
    shell.user_ns["photo"] = Image.new("RGB", (1024, 1024), (1, 2, 3))
    ok(shell, "%config GPTMagic.history_max_tokens = 500")
    ok(shell, "%%gpt\n{photo}")
    conversation(shell).turns[0].user.tokens = 765 + 4  # the estimate, whatever was reported
    ok(shell, "%%gpt\nnext")
    assert server.chat_requests[-1].body["messages"] == [{"role": "user", "content": "next"}]


def test_history_shows_the_text_and_a_thumbnail_image_output(shell, server, outputs):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    outputs.outputs.clear()
    ok(shell, "%gpt history")
    before, image, after = outputs.outputs
    assert before["data"]["text/markdown"].endswith("### User\n\nWhat does ")
    assert image["data"]["text/plain"].startswith("[image: ")
    thumb = base64.b64decode(image["data"]["image/png"])
    assert max(png_size(thumb)) == pictures.THUMBNAIL_SIDE
    assert after["data"]["text/markdown"].startswith(" show?\n\n<!-- gptmagic:assistant")
    assert "base64" not in before["data"]["text/markdown"] + after["data"]["text/markdown"]


# -- the dry run ---------------------------------------------------------------------------
def test_the_dry_run_shows_a_thumbnail_and_a_short_json_body(shell, server, outputs):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt --dry-run\nWhat does {fig} show?")
    before, image, after = outputs.outputs
    assert before["data"]["text/markdown"].endswith("---\n\nWhat does ")
    assert image["data"]["text/plain"].startswith("[image: fig, ")
    assert max(png_size(base64.b64decode(image["data"]["image/png"]))) <= 160
    markdown = after["data"]["text/markdown"]
    body = json.loads(markdown.split("```json\n")[1].removesuffix("\n```"))
    url = body["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,…(") and url.endswith(" kB)")
    assert sum(len(json.dumps(o["data"])) for o in outputs.outputs) < 40_000
    assert server.chat_requests == []


def test_only_image_urls_are_shortened_never_a_prompt_that_looks_like_one():
    url = "data:image/jpeg;base64," + "A" * 4_000_000
    prompt = "data:text/plain;base64," + "B" * 500
    body = {"messages": [{"role": "user", "content": prompt}], "input": [{"image_url": url}]}
    short = shorten_data_urls(body)
    assert short["input"][0]["image_url"] == "data:image/jpeg;base64,…(3 MB)"
    assert short["messages"][0]["content"] == prompt and body["input"][0]["image_url"] == url


# -- files ---------------------------------------------------------------------------------
def test_a_json_save_and_load_keeps_the_image_part(shell, server, tmp_path):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    sent = conversation(shell).turns[0].user.content
    path = tmp_path / "chat.json"
    ok(shell, f"%gpt save {path}")
    ok(shell, "%gpt reset")
    ok(shell, f"%gpt load {path}")
    assert conversation(shell).turns[0].user.content == sent
    ok(shell, "%%gpt\nand then?")
    assert server.chat_requests[-1].body["messages"][0]["content"] == sent


def saved_with_a_figure(shell, tmp_path) -> tuple[Path, dict]:
    """Ask about a chart, save the conversation as JSON: its path and its parsed content."""
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    path = tmp_path / "chat.json"
    ok(shell, f"%gpt save {path}")
    return path, json.loads(path.read_text())


def test_loading_a_json_file_with_a_broken_image_part_is_refused(shell, tmp_path, capsys):
    path, data = saved_with_a_figure(shell, tmp_path)
    data["turns"][0]["user"]["content"][1]["image_url"]["url"] = "data:image/png;base64,AAAA"
    path.write_text(json.dumps(data))
    result = run(shell, f"%gpt load {path}")
    assert not result.success
    assert "turn 1 user: part 2: the image must be a PNG or JPEG data URL" in (
        capsys.readouterr().err
    )
    assert len(conversation(shell).turns) == 1  # the kernel's conversation is kept


def test_a_loaded_image_part_keeps_only_the_fields_a_server_knows(shell, server, tmp_path):
    path, data = saved_with_a_figure(shell, tmp_path)
    data["turns"][0]["user"]["content"][0]["cache_control"] = {"type": "ephemeral"}
    data["turns"][0]["user"]["content"][1]["image_url"]["note"] = "hand-added"
    path.write_text(json.dumps(data))
    ok(shell, f"%gpt load {path}")
    ok(shell, "%%gpt\nand then?")
    text, image = server.chat_requests[-1].body["messages"][0]["content"][:2]
    assert text == {"type": "text", "text": "What does "}
    assert set(image["image_url"]) == {"url", "detail"}


def test_a_markdown_export_shows_a_thumbnail_and_loads_back_as_the_placeholder(
    shell, server, tmp_path
):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    path = tmp_path / "chat.md"
    ok(shell, f"%gpt save {path}")
    text = path.read_text()
    assert 'What does <img src="data:image/png;base64,' in text
    assert len(text) < 40_000  # a thumbnail, not the picture
    ok(shell, f"%gpt load {path}")
    user = conversation(shell).turns[0].user.content
    assert re.fullmatch(r"What does \[image: \d+×\d+ PNG, \d+ kB\] show\?", user)


def test_a_notebook_export_keeps_the_image_as_an_attachment_and_loads_it_back(
    shell, server, tmp_path
):
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    sent = conversation(shell).turns[0].user.content
    path = tmp_path / "chat.ipynb"
    ok(shell, f"%gpt save {path}")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    cell = nb.cells[0]
    assert cell.source.startswith("**User**\n\nWhat does ![image: ")
    assert cell.source.endswith("](attachment:image-1.png) show?")
    assert cell.attachments["image-1.png"]["image/png"] == sent[1]["image_url"]["url"].split(",")[1]
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert '<img alt="image: ' in html and 'src="data:image/png;base64,' in html
    ok(shell, "%gpt reset")
    ok(shell, f"%gpt load {path}")
    assert conversation(shell).turns[0].user.content == sent


# -- the replay cache ----------------------------------------------------------------------
def test_a_recorded_figure_question_replays_without_a_request(shell, server, tmp_path, outputs):
    cache = tmp_path / "answers.gptcache.jsonl"
    ok(shell, f"%config GPTMagic.cache = {str(cache)!r}")
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    answer = outputs.outputs[-1]["data"]["text/plain"]
    [record] = [json.loads(line) for line in cache.read_text().splitlines()]
    image = record["request"]["messages"][0]["content"][1]
    assert image["type"] == "image" and len(image["png_pixels"]) == 64
    assert "base64" not in cache.read_text() and len(cache.read_text()) < 3000
    ok(shell, "%gpt reset")
    ok(shell, "%config GPTMagic.cache_mode = 'replay'")
    shell.user_ns["fig"] = chart()  # the same chart drawn again
    ok(shell, "%%gpt\nWhat does {fig} show?")
    assert len(server.chat_requests) == 1
    assert outputs.outputs[-1]["data"]["text/plain"] == answer


def test_a_figure_drawn_again_by_another_matplotlib_version_replays(
    shell, server, tmp_path, outputs, monkeypatch
):
    """The PNG names the matplotlib version that drew it; the key is the pixels."""
    ok(shell, f"%config GPTMagic.cache = {str(tmp_path / 'answers.gptcache.jsonl')!r}")
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    answer = outputs.outputs[-1]["data"]["text/plain"]
    drawn = pictures.as_picture(chart(), "fig").data
    monkeypatch.setattr(matplotlib, "__version__", "99.0.0")
    assert pictures.as_picture(chart(), "fig").data != drawn  # other bytes, the same pixels
    ok(shell, "%gpt reset")
    ok(shell, "%config GPTMagic.cache_mode = 'replay'")
    shell.user_ns["fig"] = chart()
    ok(shell, "%%gpt\nWhat does {fig} show?")
    assert len(server.chat_requests) == 1
    assert outputs.outputs[-1]["data"]["text/plain"] == answer
    assert outputs.outputs[-1]["metadata"]["gptmagic"]["replayed"] is True


def test_a_different_picture_is_not_served_the_recorded_answer(shell, server, tmp_path, capsys):
    cache = tmp_path / "answers.gptcache.jsonl"
    ok(shell, f"%config GPTMagic.cache = {str(cache)!r}")
    shell.user_ns["photo"] = Image.new("RGB", (8, 8), (1, 2, 3))
    ok(shell, "%%gpt --no-history\nWhat is {photo}?")
    ok(shell, "%config GPTMagic.cache_mode = 'replay'")
    shell.user_ns["photo"] = Image.new("RGB", (8, 8), (3, 2, 1))
    result = run(shell, "%%gpt --no-history\nWhat is {photo}?")
    assert not result.success and "No recorded answer" in capsys.readouterr().err


def test_an_image_sent_at_another_detail_is_not_served_the_recorded_answer(
    shell, server, tmp_path, capsys
):
    """A loaded conversation may hold an image at ``low`` detail (512 px): the model saw
    another picture than at ``high``, so a follow-up recorded after one is not the other's."""
    png = base64.b64encode(render_png(8, 8, 0)).decode()

    def loaded(detail: str) -> None:
        image = {"url": f"data:image/png;base64,{png}", "detail": detail}
        user = {"role": "user", "content": [{"type": "image_url", "image_url": image}]}
        turn = {"user": user, "assistant": {"role": "assistant", "content": "A square."}}
        data = {"format": "gptmagic.conversation", "version": 1, "turns": [turn]}
        path = tmp_path / f"{detail}.json"
        path.write_text(json.dumps(data))
        ok(shell, f"%gpt load {path}")

    ok(shell, f"%config GPTMagic.cache = {str(tmp_path / 'answers.gptcache.jsonl')!r}")
    loaded("low")
    ok(shell, "%%gpt\nWhat colour is it?")
    ok(shell, "%config GPTMagic.cache_mode = 'replay'")
    loaded("low")
    ok(shell, "%%gpt\nWhat colour is it?")  # the same conversation: replayed
    loaded("high")
    capsys.readouterr()
    result = run(shell, "%%gpt\nWhat colour is it?")
    assert not result.success and "No recorded answer" in capsys.readouterr().err
    assert len(server.chat_requests) == 1


# -- imports -------------------------------------------------------------------------------
def heavy_modules_after(server, value: str, cell: str, env: dict[str, str] | None = None):
    """Run ``cell`` in a fresh interpreter's shell with ``value`` (an expression) as ``v``;
    the heavy libraries loaded afterwards."""
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ.update({env or {}!r})
        os.environ["OPENAI_API_KEY"] = {server.api_key!r}
        os.environ["OPENAI_BASE_URL"] = {server.base_url!r}
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
        from gptmagic.testing.server import render_png
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        ip = InteractiveShell.instance(config=config)
        ip.run_line_magic("load_ext", "gptmagic")
        ip.run_line_magic("config", "GPTMagic.display = 'text'")
        ip.user_ns["v"] = {value}
        result = ip.run_cell({cell!r})
        assert result.success, result.error_in_exec
        loaded = [m for m in ("pandas", "matplotlib", "PIL", "numpy") if m in sys.modules]
        print("LOADED", loaded)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split("LOADED ")[-1].strip()


def test_gptmagic_imports_no_imaging_or_data_library_for_a_text_prompt(server):
    value = '[1, 2, b"\\x89PNX not a picture"]'
    assert heavy_modules_after(server, value, "%%gpt\nWhat is {v}?") == "[]"
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize("mode", ["record", "off"], ids=["no-cache-file", "cache-off"])
def test_png_bytes_in_a_prompt_import_no_imaging_library_without_a_cache(server, mode):
    """PNG bytes need no Pillow to be sent; only a replay cache keys them by their pixels."""
    env = {"GPTMAGIC_CACHE": "answers.gptcache.jsonl" if mode == "off" else ""}
    env["GPTMAGIC_CACHE_MODE"] = mode
    value = "render_png(40, 30, 7)"
    assert heavy_modules_after(server, value, "%%gpt\nWhat is in {v}?", env) == "[]"
    [request] = server.chat_requests
    assert request.body["messages"][-1]["content"][1]["type"] == "image_url"
