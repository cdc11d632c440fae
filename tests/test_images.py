"""%gptimage / %%gptimage in a real IPython shell against the local server over HTTP."""

from __future__ import annotations

import base64
import re
import struct

import pytest

from gptmagic.testing.server import Reply
from tests.conftest import KEY, run

PNG = b"\x89PNG\r\n\x1a\n"
POLICY = (
    "Your request was rejected as a result of our safety system. Your prompt may contain "
    "text that is not allowed by our safety system."
)


def image_requests(server):
    return [r for r in server.requests if r.path == "/v1/images/generations"]


def sent(server):
    return image_requests(server)[-1].body


def images(outputs):
    return [o for o in outputs.outputs if "image/png" in o["data"]]


def captions(outputs):
    return [o["data"]["text/markdown"] for o in outputs.outputs if "text/markdown" in o["data"]]


def png_bytes(output) -> bytes:
    return base64.b64decode(output["data"]["image/png"])


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def failed(result) -> str:
    assert not result.success
    return str(result.error_in_exec)


# -- the request ---------------------------------------------------------------------------
def test_line_magic_sends_the_prompt_with_the_kernel_defaults(shell, server):
    run(shell, "%gptimage a red fox in the snow")
    assert sent(server) == {
        "model": "gpt-image-1",
        "prompt": "a red fox in the snow",
        "size": "1024x1024",
    }


def test_options_override_the_kernel_defaults(shell, server):
    run(shell, "%gptimage -m dall-e-3 --size 512x512 -n 2 --quality hd a red fox")
    assert sent(server) == {
        "model": "dall-e-3",
        "prompt": "a red fox",
        "size": "512x512",
        "n": 2,
        "quality": "hd",
    }


def test_size_auto_lets_the_model_choose(shell, server, outputs):
    assert run(shell, "%gptimage --size auto a lighthouse").success
    assert sent(server)["size"] == "auto"
    assert images(outputs)


def test_config_sets_the_kernel_defaults(shell, server):
    run(shell, "%config GPTMagic.image_model = 'dall-e-3'")
    run(shell, "%config GPTMagic.image_size = '512x512'")
    run(shell, "%gptimage a red fox")
    assert (sent(server)["model"], sent(server)["size"]) == ("dall-e-3", "512x512")


def test_cell_magic_sends_the_body_as_the_prompt(shell, server):
    run(shell, "%%gptimage --size 256x256\nA lighthouse at dusk,\npainted in watercolour.")
    assert sent(server)["prompt"] == "A lighthouse at dusk,\npainted in watercolour."
    assert sent(server)["size"] == "256x256"


def test_line_prompt_keeps_apostrophes_and_quotes_as_typed(shell, server):
    result = run(shell, """%gptimage -n 1 a fox's den, "cosy" and warm""")
    assert result.success
    assert sent(server)["prompt"] == """a fox's den, "cosy" and warm"""


def test_a_prompt_written_as_one_quoted_string_loses_the_quotes(shell, server):
    run(shell, "%gptimage --size 512x512 'a red fox'")
    assert sent(server)["prompt"] == "a red fox"


def test_a_line_prompt_may_start_with_a_negative_number(shell, server):
    assert run(shell, "%gptimage -40 degrees in a snowy forest").success
    assert sent(server)["prompt"] == "-40 degrees in a snowy forest"


def test_a_value_joined_to_its_short_option_leaves_the_prompt_whole(shell, server):
    assert run(shell, "%gptimage -n2 a red fox").success
    assert (sent(server)["n"], sent(server)["prompt"]) == (2, "a red fox")


# -- what the cell shows -------------------------------------------------------------------
def test_the_image_is_displayed_as_png_then_a_caption(shell, outputs, server):
    run(shell, "%gptimage --size 1536x1024 a red fox")
    assert len(outputs.outputs) == 2
    image, caption = outputs.outputs
    data = png_bytes(image)
    assert data.startswith(PNG) and png_size(data) == (1536, 1024)
    assert "a red fox" in image["data"]["text/plain"]
    assert "**Prompt:** a red fox" in caption["data"]["text/markdown"]
    assert "Prompt: a red fox" in caption["data"]["text/plain"]


def test_image_output_carries_provenance_metadata(shell, outputs, server):
    run(shell, "%gptimage --quality low a red fox")
    meta = images(outputs)[0]["metadata"]["gptmagic"]
    assert meta["model"] == "gpt-image-1"
    assert meta["host"] == server.url.removeprefix("http://")
    assert meta["parameters"] == {"size": "1024x1024", "n": 1, "quality": "low", "partial": None}
    assert meta["usage"]["total_tokens"] > 0
    assert meta["timestamp"] and meta["prompt"] == "a red fox"


def test_caption_shows_the_revised_prompt(shell, outputs):
    run(shell, "%gptimage -m dall-e-3 a red fox")
    assert "**Revised prompt:** A detailed picture of: a red fox" in captions(outputs)[0]
    assert images(outputs)[0]["metadata"]["gptmagic"]["revised_prompt"].startswith("A detailed")


def test_several_images_are_shown_one_after_another(shell, outputs):
    run(shell, "%gptimage -n 3 --size 256x256 three foxes")
    shown = [png_bytes(o) for o in images(outputs)]
    assert len(shown) == 3 and len(set(shown)) == 3
    assert "text/markdown" in outputs.outputs[-1]["data"]


def test_server_returning_fewer_images_is_noted(shell, outputs, server):
    server.enqueue(Reply(endpoint="images", ignore_n=True))
    run(shell, "%gptimage -n 3 a red fox")
    assert len(images(outputs)) == 1
    assert "asked for 3 images; the server returned 1" in captions(outputs)[0]


def test_a_caption_has_no_note_when_every_image_came(shell, outputs):
    assert run(shell, "%gptimage -n 2 --size 256x256 two foxes").success
    assert len(images(outputs)) == 2
    assert "Note" not in outputs.outputs[-1]["data"]["text/plain"]


def test_the_caption_counts_the_kernel_total_of_every_image(shell, outputs):
    def footer() -> str:
        return outputs.outputs[-1]["data"]["text/plain"].splitlines()[-1]

    run(shell, "%gptimage --size 256x256 a red fox")
    one = int(re.search(r"· (\d+) tokens", footer()).group(1))
    assert footer().endswith(f"kernel total {one:,}")
    run(shell, "%gptimage --size 256x256 a red fox")
    assert footer().endswith(f"kernel total {2 * one:,}")


def test_a_webp_image_is_shown_as_webp(shell, outputs, server):
    from gptmagic.testing.server import WEBP_PIXEL

    server.enqueue(Reply(endpoint="images", image_kind="webp"))
    assert run(shell, "%gptimage a red fox").success
    image = outputs.outputs[0]
    assert base64.b64decode(image["data"]["image/webp"]) == WEBP_PIXEL
    assert image["metadata"]["gptmagic"]["format"] == "image/webp"


def test_waiting_shows_elapsed_time_then_is_replaced_by_the_image(shell, outputs, server):
    server.enqueue(Reply(endpoint="images", stall=2.0))
    run(shell, "%gptimage a red fox")
    waiting = [m["data"]["text/plain"] for m in outputs.messages if "data" in m]
    assert waiting[0].startswith("Generating 1 image (1024x1024) with gpt-image-1")
    assert any(text.endswith("· 1 s") for text in waiting)
    assert len(outputs.outputs) == 2 and "image/png" in outputs.outputs[0]["data"]
    assert not any("Generating" in str(o["data"]) for o in outputs.outputs)


def test_url_answers_are_downloaded_without_the_api_key(shell, outputs, server):
    server.enqueue(Reply(endpoint="images", image_format="url"))
    run(shell, "%gptimage -m dall-e-3 a red fox")
    downloads = [r for r in server.requests if r.path.startswith("/files/")]
    assert len(downloads) == 1 and "authorization" not in downloads[0].headers
    assert png_bytes(images(outputs)[0]).startswith(PNG)


def test_partial_images_are_shown_in_place_then_replaced(shell, outputs, server):
    run(shell, "%gptimage --partial 2 a red fox")
    assert sent(server)["stream"] is True and sent(server)["partial_images"] == 2
    previews = [
        m for m in outputs.messages if "partial image" in m.get("data", {}).get("text/plain", "")
    ]
    assert [m["update"] for m in previews] == [False, True]
    assert len(outputs.outputs) == 2
    assert "partial" not in images(outputs)[0]["data"]["text/plain"]
    assert images(outputs)[0]["metadata"]["gptmagic"]["usage"]["total_tokens"] > 0


def test_partial_images_are_counted_from_one(shell, outputs, server):
    run(shell, "%gptimage --partial 2 a red fox")
    shown = [m.get("data", {}).get("text/plain", "") for m in outputs.messages]
    labels = [text for text in shown if text.startswith("partial image")]
    assert labels == ["partial image 1 of 2", "partial image 2 of 2"]


def test_a_second_image_cell_leaves_the_first_cells_image_as_it_was(shell, outputs):
    run(shell, "%gptimage --size 256x256 a red fox")
    run(shell, "%gptimage --size 512x512 a red fox")
    shown = [png_size(png_bytes(o)) for o in images(outputs)]
    assert shown == [(256, 256), (512, 512)]


# -- files and variables -------------------------------------------------------------------
def test_save_writes_one_image_to_the_file(shell, outputs, tmp_path):
    target = tmp_path / "fox.png"
    run(shell, f"%gptimage --save {target} a red fox")
    assert target.read_bytes() == png_bytes(images(outputs)[0])
    assert f"`{target}`" in captions(outputs)[0]


def test_save_without_suffix_gets_the_image_format_suffix(shell, tmp_path):
    run(shell, f"%gptimage --save {tmp_path / 'fox'} a red fox")
    assert (tmp_path / "fox.png").read_bytes().startswith(PNG)


def test_save_writes_several_images_into_a_folder(shell, outputs, tmp_path):
    folder = tmp_path / "foxes"
    run(shell, f"%gptimage -n 2 --save {folder} a red fox")
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["a-red-fox-1.png", "a-red-fox.png"]
    assert {f.read_bytes() for f in files} == {png_bytes(o) for o in images(outputs)}


def test_save_into_an_existing_folder_names_the_file_after_the_prompt(shell, tmp_path):
    run(shell, f"%gptimage --save {tmp_path} A Red Fox!")
    assert (tmp_path / "a-red-fox.png").read_bytes().startswith(PNG)


def test_save_to_a_new_folder_with_a_trailing_slash_writes_one_image_into_it(shell, tmp_path):
    run(shell, f"%gptimage --save {tmp_path}/foxes/ a red fox")
    assert [f.name for f in tmp_path.iterdir()] == ["foxes"]
    assert (tmp_path / "foxes" / "a-red-fox.png").read_bytes().startswith(PNG)


def test_a_failed_save_still_shows_the_image_and_fails_the_cell(shell, outputs, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    message = failed(run(shell, f"%gptimage -o fox --save {tmp_path}/file/fox.png a red fox"))
    assert message.startswith(f"Could not save the image to {tmp_path}/file/fox.png")
    assert len(images(outputs)) == 1 and shell.user_ns["fox"].startswith(PNG)


def test_save_never_overwrites_an_existing_file(shell, tmp_path):
    target = tmp_path / "fox.png"
    target.write_bytes(b"mine")
    run(shell, f"%gptimage --save {target} a red fox")
    run(shell, f"%gptimage --save {target} a red fox")
    assert target.read_bytes() == b"mine"
    assert (tmp_path / "fox-1.png").exists() and (tmp_path / "fox-2.png").exists()


def test_out_stores_the_image_bytes(shell, outputs):
    run(shell, "%gptimage -o fox a red fox")
    assert shell.user_ns["fox"] == png_bytes(images(outputs)[0])


def test_out_stores_a_list_for_several_images(shell):
    run(shell, "%gptimage -n 2 -o foxes a red fox")
    foxes = shell.user_ns["foxes"]
    assert isinstance(foxes, list) and len(foxes) == 2
    assert all(data.startswith(PNG) for data in foxes)


def test_out_stores_a_list_for_several_images_even_when_the_server_sent_one(shell, server):
    server.enqueue(Reply(endpoint="images", ignore_n=True))
    run(shell, "%gptimage -n 3 -o foxes a red fox")
    foxes = shell.user_ns["foxes"]
    assert isinstance(foxes, list) and len(foxes) == 1 and foxes[0].startswith(PNG)


def test_usage_appears_in_gpt_usage(shell, outputs):
    run(shell, "%gptimage a red fox")
    run(shell, "%gpt usage")
    table = outputs.markdown()[-1]
    assert "| 1 | image | gpt-image-1 |" in table
    assert "**275**" in table


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source",
    [
        "%gptimage",
        "%%gptimage\n   ",
        "%gptimage -n 0 a fox",
        "%gptimage --size big a fox",
        "%gptimage --quality ultra a fox",
        "%gptimage --partial 5 a fox",
        "%gptimage --partial 2 -n 2 a fox",
        "%gptimage -o 2x a fox",
        "%gptimage -n 2 --save fox.png a fox",
        "%gptimage -n 2 --save FOX.PNG a fox",
        "%%gptimage --bogus 1\na fox",
        "%%gptimage a fox\na fox",
        "%gptimage --save ~gptmagic-no-such-user/fox.png a fox",
    ],
)
def test_bad_input_is_one_line_and_sends_nothing(shell, server, source):
    message = failed(run(shell, source))
    assert "\n" not in message
    assert not image_requests(server)


def test_content_policy_rejection_shows_the_server_message(shell, outputs, server):
    error = {
        "error": {
            "message": POLICY,
            "type": "image_generation_user_error",
            "param": None,
            "code": "content_policy_violation",
        }
    }
    server.enqueue(Reply(endpoint="images", status=400, error=error))
    message = failed(run(shell, "%gptimage something forbidden"))
    assert "content policy" in message and POLICY in message
    assert outputs.outputs[-1]["data"]["text/plain"].startswith("No image: the request failed")


def test_a_moderation_block_shows_the_server_message(shell, server):
    message = "Your request was rejected by the safety system."
    error = {"error": {"message": message, "type": "image_generation_user_error", "param": None}}
    error["error"]["code"] = "moderation_blocked"  # what GPT image models send
    server.enqueue(Reply(endpoint="images", status=400, error=error))
    assert failed(run(shell, "%gptimage something forbidden")) == (
        f"{server.url.removeprefix('http://')} refused the prompt under its content policy: "
        f"{message} Rephrase the prompt and run the cell again."
    )


def test_a_key_echoed_in_a_content_policy_refusal_is_masked(shell, outputs, server):
    error = {
        "error": {
            "message": f"Request blocked for key {KEY}.",
            "type": "image_generation_user_error",
            "param": None,
            "code": "content_policy_violation",
        }
    }
    server.enqueue(Reply(endpoint="images", status=400, error=error))
    message = failed(run(shell, "%gptimage something forbidden"))
    assert "Request blocked for key ***." in message
    assert KEY not in message and KEY not in str(outputs.messages)


def test_invalid_size_for_the_model_shows_the_server_message(shell, server):
    message = failed(run(shell, "%gptimage --size 300x300 a fox"))
    assert "(400): Invalid size '300x300'" in message


def test_unknown_model_is_named(shell):
    message = failed(run(shell, "%gptimage -m nope a fox"))
    assert "Model 'nope' was not found" in message and "%gpt models" in message


def test_rejected_key_is_explained_without_showing_it(shell, outputs, server, monkeypatch):
    wrong = "sk-wrong-KEY-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    message = failed(run(shell, "%gptimage a fox"))
    assert "rejected the API key (401)" in message
    assert wrong not in message and wrong not in str(outputs.messages)


def test_rate_limit_is_retried(shell, outputs, server):
    run(shell, "%config GPTMagic.max_retries = 1")
    server.enqueue(Reply(endpoint="images", status=429, headers={"retry-after": "0"}))
    assert run(shell, "%gptimage a fox").success
    assert len(image_requests(server)) == 2 and len(images(outputs)) == 1


def test_token_budget_refuses_before_sending(shell, server):
    run(shell, "%gptimage a fox")
    run(shell, "%config GPTMagic.token_budget = 100")
    assert "Token budget reached" in failed(run(shell, "%gptimage another fox"))
    assert len(image_requests(server)) == 1


def test_the_key_is_never_in_an_output(shell, outputs, server):
    server.enqueue(Reply(endpoint="images", image_format="url"))
    run(shell, "%gptimage -m dall-e-3 a fox")
    assert KEY not in str(outputs.messages)


# -- a notebook in a real kernel -------------------------------------------------------------
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A notebook with image cells run by nbclient, saved to disk and read back."""
    import nbformat

    from gptmagic.testing.notebook import execute
    from gptmagic.testing.server import FakeOpenAI

    folder = tmp_path_factory.mktemp("images-nb")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext gptmagic"),
        nbformat.v4.new_code_cell('print("before")\n%gptimage --save fox.png -o fox a red fox'),
        nbformat.v4.new_code_cell("%%gptimage -n 2 --size 256x256\nTwo foxes, side by side"),
        nbformat.v4.new_code_cell("len(fox)"),
    ]
    path = folder / "images.ipynb"
    nbformat.write(nb, path)
    with FakeOpenAI(api_key=KEY, lifetime=120) as server:
        server.enqueue(Reply(endpoint="images", stall=1.5))
        done = execute(path, {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url})
    nbformat.write(done, path)
    return nbformat.read(path, as_version=4), path


def test_saved_notebook_keeps_the_images(executed):
    nb, _ = executed
    one, two = nb.cells[1].outputs, nb.cells[2].outputs
    assert [o.output_type for o in one] == ["stream", "display_data", "display_data"]
    assert one[0].text == "before\n"
    assert base64.b64decode(one[1].data["image/png"]).startswith(PNG)
    assert one[1].metadata["gptmagic"]["model"] == "gpt-image-1"
    assert "**Prompt:** a red fox" in one[2].data["text/markdown"]
    assert [png_size(base64.b64decode(o.data["image/png"])) for o in two[:2]] == [(256, 256)] * 2


def test_notebook_holds_no_progress_line_and_no_key(executed):
    _, path = executed
    text = path.read_text()
    assert "Generating" not in text
    assert KEY not in text


def test_notebook_saved_the_file_and_the_variable(executed):
    nb, path = executed
    saved = (path.parent / "fox.png").read_bytes()
    assert saved == base64.b64decode(nb.cells[1].outputs[1].data["image/png"])
    assert nb.cells[3].outputs[0].data["text/plain"] == str(len(saved))


def test_nbconvert_html_embeds_the_images(executed):
    from nbconvert import HTMLExporter

    nb, _ = executed
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 3


def test_half_an_emoji_in_the_prompt_is_sent_as_a_replacement_character(shell, server):
    # As a {variable} would bring it (a cell typed in a frontend cannot hold one).
    assert shell.run_cell("%%gptimage\na fox \ud83d!", store_history=False).success
    assert sent(server)["prompt"] == "a fox \ufffd!"


# -- hostile image servers: size, time, formats, links ---------------------------------------
def host_of(server) -> str:
    return server.url.removeprefix("http://")


def image_outputs(outputs) -> list:
    return [o for o in outputs.outputs if any(k.startswith("image/") for k in o["data"])]


def link_error(shell, server, link: str) -> str:
    """The one-line error of a URL answer whose image link is ``link``."""
    server.enqueue(Reply(endpoint="images", image_format="url", image_url=link))
    return failed(run(shell, "%gptimage -m dall-e-3 a red fox"))


def closed_port(address: str) -> int:
    """A port nothing listens on at ``address`` once the probe is closed."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def test_an_image_announced_over_the_limit_is_not_downloaded(shell, outputs, server):
    server.enqueue(Reply(endpoint="images", image_format="url", download_bytes=100_000_000))
    message = failed(run(shell, "%gptimage -m dall-e-3 a red fox"))
    assert message == (
        f"The image at {host_of(server)} is 100 MB, over the 50 MB limit "
        "(GPTMagic.image_max_bytes): not downloaded."
    )
    assert not image_outputs(outputs)


def test_a_limit_just_under_a_megabyte_is_named_in_megabytes(shell, server):
    run(shell, "%config GPTMagic.image_max_bytes = 999_999")
    server.enqueue(Reply(endpoint="images", image_format="url", download_bytes=100_000_000))
    message = failed(run(shell, "%gptimage -m dall-e-3 a red fox"))
    assert message == (
        f"The image at {host_of(server)} is 100 MB, over the 1 MB limit "
        "(GPTMagic.image_max_bytes): not downloaded."
    )


def test_an_image_without_a_length_stops_at_the_limit_and_the_kernel_stays_small(
    shell, outputs, server
):
    import tracemalloc

    run(shell, "%gptimage -m dall-e-3 a red fox")  # imports openai and makes the client first
    shown = len(image_outputs(outputs))
    run(shell, "%config GPTMagic.image_max_bytes = 1_000_000")
    server.enqueue(
        Reply(endpoint="images", image_format="url", download="chunked", download_bytes=10**8)
    )
    tracemalloc.start()
    try:
        # 256x256: the server (a thread of this process) renders a small image
        message = failed(run(shell, "%gptimage -m dall-e-3 --size 256x256 a red fox"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == (
        f"The image at {host_of(server)} is larger than the 1 MB limit "
        "(GPTMagic.image_max_bytes): the download was stopped."
    )
    assert peak < 3_000_000, f"{peak:,} bytes at the peak for a 1 MB limit"
    assert len(image_outputs(outputs)) == shown


@pytest.mark.parametrize("image_format", ["b64_json", "url"])
def test_an_image_of_exactly_the_limit_is_shown_and_one_byte_less_refuses_it(
    shell, outputs, server, image_format
):
    run(shell, "%gptimage -o fox a red fox")
    size = len(shell.user_ns["fox"])
    run(shell, f"%config GPTMagic.image_max_bytes = {size}")
    server.enqueue(Reply(endpoint="images", image_format=image_format))
    assert run(shell, "%gptimage -o again a red fox").success
    assert shell.user_ns["again"] == shell.user_ns["fox"]
    run(shell, f"%config GPTMagic.image_max_bytes = {size - 1}")
    server.enqueue(Reply(endpoint="images", image_format=image_format))
    message = failed(run(shell, "%gptimage a red fox"))
    assert "GPTMagic.image_max_bytes" in message and "\n" not in message


@pytest.mark.parametrize(("prompt", "padding"), [("a red fox", 1), ("a white fox", 2)])
def test_padded_base64_of_exactly_the_limit_is_shown(shell, server, prompt, padding):
    run(shell, f"%gptimage --size 256x256 -o fox {prompt}")
    size = len(shell.user_ns["fox"])
    assert (3 - size % 3) % 3 == padding  # the base64 ends with this many "="
    run(shell, f"%config GPTMagic.image_max_bytes = {size}")
    assert run(shell, f"%gptimage --size 256x256 -o again {prompt}").success
    assert shell.user_ns["again"] == shell.user_ns["fox"]


def test_a_dripping_image_download_stops_at_the_timeout_in_all(shell, outputs, server):
    run(shell, "%config GPTMagic.timeout = 1")
    server.enqueue(  # 16 bytes every 0.2 s: every read succeeds, the whole would take 10 min
        Reply(endpoint="images", image_format="url", download="drip", download_bytes=50_000)
    )
    message = failed(run(shell, "%gptimage -m dall-e-3 a red fox"))
    assert re.fullmatch(
        rf"The image at {re.escape(host_of(server))} took longer than 1 s to download "
        r"\(GPTMagic\.timeout\): stopped after \d+ bytes\.",
        message,
    ), message
    assert not image_outputs(outputs)


def test_image_max_bytes_must_be_positive(shell, caplog):
    run(shell, "%config GPTMagic.image_max_bytes = 0")
    assert "GPTMagic.image_max_bytes must be > 0 bytes" in caplog.text
    assert shell.magics_manager.registry["GPTMagic"].image_max_bytes == 50_000_000


SVG_REFUSED = "in a format gptmagic does not show (SVG, which can carry scripts): only PNG, "


@pytest.mark.parametrize("image_format", ["b64_json", "url"])
def test_an_svg_image_is_refused_and_never_shown(shell, outputs, server, image_format):
    server.enqueue(Reply(endpoint="images", image_format=image_format, image_kind="svg"))
    message = failed(run(shell, "%gptimage -m dall-e-3 a red fox"))
    assert message == (
        f"{host_of(server)} sent image 1 {SVG_REFUSED}JPEG, WebP or GIF images are accepted."
    )
    assert "svg" not in str(outputs.messages) and "<script>" not in str(outputs.messages)


def test_a_page_that_is_not_an_image_is_refused(shell, outputs, server):
    server.enqueue(Reply(endpoint="images", image_format="url", image_kind="html"))
    message = failed(run(shell, "%gptimage -m dall-e-3 a red fox"))
    assert message == (
        f"{host_of(server)} sent image 1 in a format gptmagic does not show (starts with "
        "b'<!DOCTYP'): only PNG, JPEG, WebP or GIF images are accepted."
    )
    assert not image_outputs(outputs)


@pytest.mark.parametrize(
    ("link", "scheme"),
    [
        ("file:///etc/passwd", "file:"),
        ("ftp://files.example.com/fox.png", "ftp:"),
        ("data:image/png;base64,iVBORw0KGgo=", "data:"),
        ("/files/fox.png", "no scheme"),
    ],
)
def test_only_http_image_links_are_downloaded(shell, outputs, server, link, scheme):
    server.enqueue(Reply(endpoint="images", image_format="url", image_url=link))
    message = failed(run(shell, "%gptimage -m dall-e-3 a red fox"))
    assert message == (
        f"{host_of(server)} sent image 1 as a link gptmagic does not download ({scheme}): "
        "only http and https image links are."
    )
    assert [r.path for r in server.requests] == ["/v1/images/generations"]


@pytest.mark.parametrize(
    ("port", "problem"),
    [
        ("99999", "Port out of range 0-65535"),
        ("http", "Port could not be cast to integer value as 'http'"),
    ],
)
def test_an_image_link_with_an_impossible_port_is_one_line(shell, outputs, server, port, problem):
    message = link_error(shell, server, f"http://127.0.0.1:{port}/fox.png")
    assert message == f"{host_of(server)} sent image 1 as a link gptmagic cannot read: {problem}."
    assert [r.path for r in server.requests] == ["/v1/images/generations"]


def test_html_in_the_revised_prompt_is_shown_as_text(shell, outputs, server):
    server.enqueue(Reply(endpoint="images", revised_prompt='a fox <img src=x onerror="alert(1)">'))
    assert run(shell, "%gptimage -m dall-e-3 a red fox").success
    caption = captions(outputs)[0]
    assert '**Revised prompt:** a fox &lt;img src=x onerror="alert(1)"&gt;' in caption
    assert "<img" not in caption


def test_a_replay_cache_holding_an_svg_is_refused_like_a_server(shell, outputs, server, tmp_path):
    import json

    from gptmagic.testing.server import SVG_WITH_SCRIPT

    cache = tmp_path / "answers.gptcache.jsonl"
    run(shell, f"%config GPTMagic.cache = {str(cache)!r}")
    run(shell, "%gptimage --size 256x256 a red fox")
    record = json.loads(cache.read_text())
    record["answer"]["images"][0]["b64"] = base64.b64encode(SVG_WITH_SCRIPT).decode()
    cache.write_text(json.dumps(record) + "\n")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    outputs.outputs.clear()
    message = failed(run(shell, "%gptimage --size 256x256 a red fox"))
    assert message.startswith(f"{host_of(server)} sent image 1 {SVG_REFUSED}")
    assert not image_outputs(outputs) and len(image_requests(server)) == 1


def test_an_image_link_whose_host_refuses_the_connection_is_one_line(shell, outputs, server):
    """The download goes through the HTTP library itself (not the SDK, which wraps its
    errors): a refused connection is its own exception, which must still be one line."""
    port = closed_port("127.0.0.1")
    message = link_error(shell, server, f"http://127.0.0.1:{port}/fox.png")
    assert message == (
        f"Could not download the image from 127.0.0.1:{port} (ConnectError). Image links "
        "expire after an hour: run the cell again."
    )
    assert images(outputs) == []


def test_an_expired_image_link_says_so(shell, outputs, server):
    message = link_error(shell, server, f"{server.url}/files/expired.png")  # gone: 404
    assert message == (
        f"Could not download the image from {host_of(server)} (HTTP 404). Image links "
        "expire after an hour: run the cell again."
    )
    assert not image_outputs(outputs)


def test_the_credentials_in_an_image_link_are_never_shown(shell, server):
    link = f"http://reader:s3cret-pass@{host_of(server)}/files/expired.png"
    message = link_error(shell, server, link)
    assert message.startswith(f"Could not download the image from {host_of(server)} (HTTP 404)")
    assert "s3cret" not in message and "reader" not in message


def test_an_image_link_that_stops_sending_names_the_timeout(shell, server):
    run(shell, "%config GPTMagic.timeout = 1")
    server.enqueue(  # the first 16 bytes, then nothing for longer than the timeout
        Reply(endpoint="images", image_format="url", download="drip", chunk_delay=5)
    )
    message = failed(run(shell, "%gptimage -m dall-e-3 a red fox"))
    assert message == (
        f"Could not download the image from {host_of(server)} (no data for 1 s, "
        "GPTMagic.timeout). Image links expire after an hour: run the cell again."
    )


# -- the replay cache --------------------------------------------------------------------------
def test_a_replayed_image_keeps_its_revised_prompt(shell, outputs, server, tmp_path):
    run(shell, f"%config GPTMagic.cache = {str(tmp_path / 'answers.gptcache.jsonl')!r}")
    run(shell, "%gptimage -m dall-e-3 --size 256x256 a red fox")
    run(shell, "%config GPTMagic.cache_mode = 'replay'")
    outputs.outputs.clear()
    assert run(shell, "%gptimage -m dall-e-3 --size 256x256 a red fox").success
    assert len(image_requests(server)) == 1
    assert "**Revised prompt:** A detailed picture of: a red fox" in captions(outputs)[0]


# -- the waiting line outside a notebook -------------------------------------------------------
def terminal_lines(err: str) -> list[str]:
    """What a terminal shows in turn: each ``\\r`` rewrites the line."""
    return err.split("\r")[1:]


@pytest.mark.parametrize("display", ["text", "auto"])
def test_outside_a_notebook_the_waiting_line_is_on_stderr(shell, outputs, capsys, display):
    run(shell, f"%config GPTMagic.display = {display!r}")  # auto: a terminal IPython, no kernel
    assert run(shell, "%gptimage a red fox").success
    assert terminal_lines(capsys.readouterr().err)[0].startswith("Generating 1 image (1024x1024)")
    assert not any("Generating" in str(m) for m in outputs.messages)


def test_in_a_terminal_the_waiting_line_ends_saying_what_was_generated(shell, capsys):
    run(shell, "%config GPTMagic.display = 'text'")
    assert run(shell, "%gptimage -n 2 a red fox").success
    last = terminal_lines(capsys.readouterr().err)[-1]
    assert last.endswith("\n")
    assert re.fullmatch(r"Generated 2 images with gpt-image-1 in \d+ s\.", last.rstrip())


def test_in_a_terminal_a_shorter_line_covers_all_of_the_longer_one(shell, capsys):
    run(shell, "%config GPTMagic.display = 'text'")
    assert run(shell, "%gptimage a red fox").success
    *_, waiting, done = terminal_lines(capsys.readouterr().err)
    assert len(done.rstrip()) < len(waiting)
    assert len(done) == len(waiting) + 1  # padded with spaces, then the newline


def test_an_ipv6_image_host_is_named_in_brackets(shell, server):
    port = closed_port("::1")
    message = link_error(shell, server, f"http://[::1]:{port}/fox.png")
    assert message == (
        f"Could not download the image from [::1]:{port} (ConnectError). Image links "
        "expire after an hour: run the cell again."
    )
