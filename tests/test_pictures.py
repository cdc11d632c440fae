"""Pictures in prompts (gptmagic/pictures.py): recognising images, the caps, the header
parsers, content parts, thumbnails, and how a server without vision is explained."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import struct
import subprocess
import sys
import textwrap
import zlib
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.figure
import nbformat
import openai
import pytest
from IPython.display import Image as IPythonImage
from matplotlib.patches import Rectangle
from nbconvert import HTMLExporter
from PIL import Image

from gptmagic import pictures
from gptmagic.errors import GPTMagicError
from gptmagic.pictures import (
    MAX_BYTES,
    MAX_SIDE,
    Picture,
    as_picture,
    explain_image_refusal,
    image_part,
    image_refusal,
    image_size,
    jpeg_size,
    placeholder,
    png_size,
    text_and_images,
    thumbnail_markdown,
    thumbnail_output,
)
from gptmagic.testing.server import Reply, render_png
from tests.conftest import KEY


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def decoded(picture: Picture) -> Image.Image:
    return Image.open(io.BytesIO(picture.data))


def noise(mode: str, size: tuple[int, int], seed: int = 1) -> Image.Image:
    """Incompressible pixels: the worst case for the bytes cap."""
    bands = len(Image.new(mode, (1, 1)).getbands())
    return Image.frombytes(mode, size, random.Random(seed).randbytes(size[0] * size[1] * bands))


def chart(width_in: float = 4, height_in: float = 3, dpi: int = 100) -> matplotlib.figure.Figure:
    figure = matplotlib.figure.Figure(figsize=(width_in, height_in), dpi=dpi)
    axes = figure.add_subplot()
    axes.plot([1, 3, 2, 5])
    axes.set_title("sales")
    return figure


def jpeg_header(width: int, height: int, sof: int = 0xC0) -> bytes:
    """SOI, an APP0, a DHT (0xC4, in the SOF range but not one) and a SOF segment."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    dht = b"\xff\xc4" + struct.pack(">H", 5) + b"\0\0\0"
    sof_body = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    sof_segment = bytes([0xFF, sof]) + struct.pack(">H", 2 + len(sof_body)) + sof_body
    return b"\xff\xd8" + app0 + dht + sof_segment + b"\xff\xda\x00\x08"


# -- recognising a value -------------------------------------------------------------------
def test_a_matplotlib_figure_is_sent_as_the_png_it_renders_at_its_own_dpi():
    figure = chart(4, 3, dpi=100)
    picture = as_picture(figure, "fig")
    assert picture.mime == "image/png" and picture.label == "fig"
    assert png_size(picture.data) == (picture.width, picture.height)
    # bbox "tight" trims the margins of the 400x300 px figure, never enlarges it here
    assert 300 < picture.width <= 400 and 200 < picture.height <= 300
    assert decoded(picture).size == (picture.width, picture.height)


def test_an_axes_is_sent_as_its_whole_figure():
    figure = chart()
    assert as_picture(figure.axes[0], "ax").data == as_picture(figure, "fig").data


def test_a_pil_image_is_sent_as_a_png_of_the_same_pixels():
    image = noise("RGB", (300, 200))
    picture = as_picture(image, "img")
    assert (picture.mime, picture.width, picture.height) == ("image/png", 300, 200)
    assert decoded(picture).tobytes() == image.tobytes()


def test_a_cmyk_pil_image_is_converted_to_rgb_for_png():
    picture = as_picture(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "img")
    assert picture.mime == "image/png"
    assert decoded(picture).mode == "RGB"
    assert decoded(picture).getpixel((0, 0)) == (255, 0, 0)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=lambda w: w.__name__)
def test_png_bytes_are_sent_unchanged(wrap):
    png = render_png(120, 80, seed=7)
    picture = as_picture(wrap(png), "raw")
    assert picture == Picture("image/png", png, 120, 80, "raw")


def test_jpeg_bytes_are_sent_unchanged():
    jpeg = encoded(noise("RGB", (90, 60)), "JPEG")
    assert as_picture(jpeg, "photo") == Picture("image/jpeg", jpeg, 90, 60, "photo")


def test_an_ipython_image_sends_its_data():
    png = render_png(64, 32, seed=3)
    assert as_picture(IPythonImage(data=png), "shown") == Picture("image/png", png, 64, 32, "shown")


@pytest.mark.parametrize(
    "value",
    [
        b"hello",
        b"",
        b"\x89PN",  # a prefix of the signature
        b"\xff\xd8\x00 text",  # JPEG's first two bytes, not its signature (FF D8 FF)
        b"GIF88a\x01\x00\x01\x00",  # no GIF version
        b"RIFF\0\0\0\0WAVE",  # a RIFF file that is no WebP
        "\x89PNG\r\n\x1a\n",  # the signature as text, not bytes
        "chart.png",  # a name says nothing
        memoryview(struct.pack("<4I", 0x474E5089, 0x0A1A0A0D, 0, 0)).cast("I")[::2],
        [render_png(4, 4, 0)],
        None,
        IPythonImage(url="https://example.com/chart.png"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_values_that_are_not_png_or_jpeg_data_keep_their_text_rendering(value):
    assert as_picture(value, "x") is None


@pytest.mark.parametrize("kind", ["GIF", "WEBP"])
def test_gif_and_webp_bytes_are_sent_as_a_png_of_the_same_pixels(kind):
    image = noise("RGB", (60, 40)) if kind == "WEBP" else noise("RGB", (60, 40)).quantize(16)
    data = encoded(image, kind, **({"lossless": True} if kind == "WEBP" else {}))
    picture = as_picture(data, "anim")
    assert (picture.mime, picture.width, picture.height) == ("image/png", 60, 40)
    assert decoded(picture).convert("RGB").tobytes() == image.convert("RGB").tobytes()


def test_a_gif_over_the_side_cap_is_scaled_to_it():
    data = encoded(Image.new("P", (3000, 100)), "GIF")
    picture = as_picture(data, "strip")
    assert (picture.mime, picture.width, picture.height) == ("image/png", 2048, 68)


def test_webp_bytes_without_pil_loaded_are_refused_in_one_line_and_pil_stays_unloaded(
    monkeypatch,
):
    data = encoded(noise("RGB", (8, 8)), "WEBP")
    for name in [name for name in sys.modules if name == "PIL" or name.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(GPTMagicError) as caught:
        as_picture(data, "img")
    assert str(caught.value) == (
        "{img} is a WebP image: images in prompts are sent as PNG or JPEG, and gptmagic "
        "converts one only in a kernel that has PIL loaded. Run import PIL.Image (pip install "
        "pillow) and run this cell again; nothing was sent."
    )
    assert "PIL.Image" not in sys.modules


def test_damaged_webp_bytes_are_refused_in_one_line():
    with pytest.raises(GPTMagicError) as caught:
        as_picture(b"RIFF\x10\0\0\0WEBPVP8 garbage!", "img")
    assert str(caught.value).startswith("{img} could not be read as an image (")
    assert "\n" not in str(caught.value)


def test_a_file_named_like_an_image_is_not_read(tmp_path):
    path = tmp_path / "chart.png"
    path.write_bytes(render_png(8, 8, 1))
    assert as_picture(path, "path") is None


def test_bytes_with_a_png_signature_and_a_broken_header_are_refused_in_one_line():
    with pytest.raises(GPTMagicError) as caught:
        as_picture(render_png(8, 8, 1)[:20], "blob")
    assert str(caught.value) == (
        "{blob} starts like a PNG image but its header cannot be read (truncated or damaged); "
        "nothing was sent."
    )


# -- sizes from the headers ----------------------------------------------------------------
def test_png_size_reads_the_ihdr_chunk():
    assert png_size(render_png(1536, 1024, 0)) == (1536, 1024)
    assert png_size(encoded(Image.new("LA", (3, 70000 // 100)))) == (3, 700)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(1, 1, (1, 1)), (0, 5, None), (5, 0, None), (2**31 - 1, 1, (2**31 - 1, 1)), (2**31, 1, None)],
)
def test_png_size_keeps_to_the_spec_range(width, height, expected):
    header = pictures.PNG_SIGNATURE + b"\0\0\0\x0dIHDR" + struct.pack(">II", width, height)
    assert png_size(header + b"\x08\x02\0\0\0") == expected


def test_png_size_is_none_for_every_truncation_and_a_wrong_first_chunk():
    png = render_png(10, 20, 0)
    assert [png_size(png[:n]) for n in range(24)] == [None] * 24
    assert png_size(png[:24]) == (10, 20)
    assert png_size(png[:8] + b"\0\0\0\x0dIDAT" + png[16:]) is None
    assert png_size(png[:8] + b"\0\0\0\x0eIHDR" + png[16:]) is None


@pytest.mark.parametrize("sof", [0xC0, 0xC1, 0xC2, 0xCF], ids=hex)
def test_jpeg_size_reads_the_sof_marker_and_skips_other_segments(sof):
    assert jpeg_size(jpeg_header(640, 480, sof)) == (640, 480)


def test_jpeg_size_matches_pil_for_real_files():
    for size in [(1, 1), (17, 9), (640, 480), (3, 2000)]:
        for options in [{}, {"progressive": True}, {"exif": b"Exif\0\0" + b"\0" * 100}]:
            data = encoded(noise("RGB", size), "JPEG", **options)
            assert jpeg_size(data) == Image.open(io.BytesIO(data)).size == size


def test_jpeg_size_skips_fill_bytes_before_a_marker():
    header = jpeg_header(50, 40)
    padded = header[:2] + b"\xff\xff\xff" + header[2:]
    assert jpeg_size(padded) == (50, 40)


def test_jpeg_size_is_none_for_every_truncation():
    header = jpeg_header(640, 480)
    known = header.index(b"\xff\xc0") + 2 + 7  # marker, length, precision, height, width
    assert [jpeg_size(header[:n]) for n in range(known)] == [None] * known
    assert jpeg_size(header[:known]) == (640, 480)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0\x00\x00",  # a segment length of 0
        b"\xff\xd8\xff\xe0\x00\x01",  # 1: shorter than its own length field
        b"\xff\xd8\xff\xda\x00\x08" + b"\0" * 8,  # the scan starts before any frame header
        b"\xff\xd8\xff\xd9",  # the end, no frame
        b"\xff\xd8\x00\xff\xc0",  # garbage where a marker must be
        b"\xff\xd8\xff\xc0\x00\x05\x08\x00",  # a SOF too short to hold the size
        b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x02\x80\x03",  # height 0 (set later by DNL)
        b"\xff\xd8" + b"\xff" * 100_000,  # fill bytes forever
        b"\xff\xd8" + b"\xff\xe1\x00\x02" * 50_000,  # empty segments forever
        b"\xff\xd8\xff\xda\x00\x02\xff\xc0\x00\x0b\x08\x00\x09\x00\x09\x01",  # SOF after the scan
        b"\x00\x00" + jpeg_header(9, 9)[2:],  # no start-of-image marker
    ],
    ids=lambda d: d[:12].hex(),
)
def test_jpeg_size_is_none_for_hostile_headers(data):
    assert jpeg_size(data) is None


def test_the_size_parsers_never_raise_on_random_bytes():
    rng = random.Random(13)
    prefixes = [b"\xff\xd8\xff", pictures.PNG_SIGNATURE, jpeg_header(5, 5)[:30], b""]
    for _ in range(3000):
        data = rng.choice(prefixes) + rng.randbytes(rng.randrange(0, 64))
        result = image_size(data)
        assert result is None or (result[1] > 0 and result[2] > 0)
        assert pictures.pixel_digest(data) is None or result is not None


# -- the caps ------------------------------------------------------------------------------
# -- the pixel digest (the replay cache's key of a PNG) ----------------------------------------
def figure_png(**options) -> bytes:
    fig = matplotlib.figure.Figure(figsize=(4, 3), dpi=100)
    fig.add_subplot().plot([1, 2, 3], [3, 1, 2])
    out = io.BytesIO()
    fig.savefig(out, format="png", bbox_inches="tight", **options)
    return out.getvalue()


def test_the_pixel_digest_ignores_compression_and_text_chunks():
    plain = figure_png()
    squeezed = figure_png(pil_kwargs={"compress_level": 9})
    unsigned = figure_png(metadata={"Software": None})  # no matplotlib version in the file
    assert len({plain, squeezed, unsigned}) == 3
    assert len({pictures.pixel_digest(p) for p in (plain, squeezed, unsigned)}) == 1


def test_the_pixel_digest_tells_one_pixel_and_the_palette_apart():
    image = Image.new("RGB", (8, 8), (1, 2, 3))
    changed = image.copy()
    changed.putpixel((7, 7), (1, 2, 4))
    palette = image.convert("P", palette=Image.Palette.ADAPTIVE)  # exact: one colour
    other = palette.copy()
    other.putpalette([9, 9, 9] * 256)
    digests = [pictures.pixel_digest(png_of(i)) for i in (image, changed, palette, other)]
    assert digests[0] == digests[2]  # the same colours, stored through a palette
    assert len({digests[0], digests[1], digests[3]}) == 3


def png_with_filter(rows: list[bytes], width: int, row_filter: int) -> bytes:
    """An RGB PNG whose every row is stored with ``row_filter`` (0 none, 1 sub, 2 up)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    stored, previous = b"", bytes(len(rows[0]))
    for row in rows:
        if row_filter == 1:
            row_out = bytes((row[i] - (row[i - 3] if i >= 3 else 0)) % 256 for i in range(len(row)))
        elif row_filter == 2:
            row_out = bytes((a - b) % 256 for a, b in zip(row, previous, strict=True))
        else:
            row_out = row
        stored += bytes([row_filter]) + row_out
        previous = row
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    return (
        pictures.PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(stored))
        + chunk(b"IEND", b"")
    )


def test_the_pixel_digest_ignores_how_rows_were_filtered():
    rows = [bytes((x * 40 + y * 7 + c) % 256 for x in range(5) for c in range(3)) for y in range(4)]
    encoded = [png_with_filter(rows, 5, row_filter) for row_filter in (0, 1, 2)]
    assert len(set(encoded)) == 3
    assert len({pictures.pixel_digest(png) for png in encoded}) == 1


def test_the_pixel_digest_never_decodes_a_png_claiming_a_huge_image():
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    claim = png_with_filter([bytes(3)], 1, 0).replace(
        struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0), header
    )
    assert pictures.png_size(claim) == (100_000, 100_000)
    assert pictures.pixel_digest(claim) is None


def test_the_pixel_digest_is_none_for_bytes_that_are_not_a_readable_png():
    header = png_of(Image.new("L", (8, 8)))[:33]
    broken = struct.pack(">I", 8) + b"IDATnot zlib\0\0\0\0"
    assert pictures.pixel_digest(header + broken) is None
    assert pictures.pixel_digest(b"\xff\xd8\xff not a png") is None


def png_of(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_default_caps_are_the_api_high_detail_side_and_five_megabytes():
    assert (MAX_SIDE, MAX_BYTES) == (2048, 5_000_000)


def test_an_image_exactly_at_the_side_cap_is_sent_unchanged():
    png = render_png(64, 10, 0)
    assert as_picture(png, "p", max_side=64).data == png


def test_an_image_one_pixel_over_the_side_cap_is_scaled_to_the_cap():
    picture = as_picture(render_png(65, 13, 0), "p", max_side=64)
    assert (picture.width, picture.height) == (64, 13)
    assert decoded(picture).size == (64, 13)


def test_an_image_exactly_at_the_bytes_cap_is_sent_unchanged():
    png = encoded(noise("RGBA", (40, 40)), compress_level=0)  # unlike any re-encoding
    assert as_picture(png, "p", max_bytes=len(png)).data == png


def test_an_image_one_byte_over_the_bytes_cap_is_reencoded_within_it():
    png = encoded(noise("RGBA", (40, 40)))  # alpha: stays PNG, so it must shrink
    picture = as_picture(png, "p", max_bytes=len(png) - 1)
    assert picture.mime == "image/png"
    assert len(picture.data) <= len(png) - 1
    assert picture.width < 40


def test_an_image_of_exactly_the_pixel_limit_is_resized_not_refused(monkeypatch):
    monkeypatch.setattr(pictures, "MAX_PIXELS", 20 * 10)
    picture = as_picture(render_png(20, 10, 0), "p", max_side=10)
    assert (picture.mime, picture.width, picture.height) == ("image/png", 10, 5)


def test_a_palette_image_with_a_transparent_colour_too_big_stays_a_png():
    image = noise("P", (200, 150))
    image.info["transparency"] = 0
    png = encoded(image, transparency=0)
    picture = as_picture(image, "logo", max_bytes=len(png) // 2)
    assert picture.mime == "image/png"
    assert decoded(picture).mode == "RGBA" and len(picture.data) <= len(png) // 2


def test_a_photo_too_big_as_png_is_sent_as_jpeg_at_full_size():
    image = noise("RGB", (400, 300))
    png_bytes = len(encoded(image))
    picture = as_picture(image, "photo", max_bytes=png_bytes // 2)
    assert (picture.mime, picture.width, picture.height) == ("image/jpeg", 400, 300)
    assert len(picture.data) <= png_bytes // 2


def test_a_large_figure_is_rendered_once_at_the_dpi_that_fits_the_side_cap():
    figure = chart(30, 20, dpi=100)  # 3000x2000 px at its own dpi
    dpis = []
    savefig = figure.savefig
    figure.savefig = lambda *args, **kwargs: dpis.append(kwargs["dpi"]) or savefig(*args, **kwargs)
    picture = as_picture(figure, "big", max_side=500)
    assert dpis == [pytest.approx(500 / 30)]
    assert 300 < picture.width <= 500  # "tight" trims the margins


def test_a_figure_whose_render_is_exactly_the_side_cap_is_rendered_once_at_its_dpi():
    figure = matplotlib.figure.Figure(figsize=(6.2, 1), dpi=10)  # + 0.1 in padding each side
    figure.add_artist(Rectangle((0, 0), 1, 1, transform=figure.transFigure))
    dpis = []
    savefig = figure.savefig
    figure.savefig = lambda *args, **kwargs: dpis.append(kwargs["dpi"]) or savefig(*args, **kwargs)
    picture = as_picture(figure, "fig", max_side=64)
    assert (picture.width, picture.height, dpis) == (64, 12, [10])


def test_a_large_figure_is_rendered_at_a_lower_dpi_within_both_caps():
    figure = chart(30, 20, dpi=100)
    picture = as_picture(figure, "big", max_side=500, max_bytes=20_000)
    assert max(picture.width, picture.height) <= 500
    assert len(picture.data) <= 20_000
    assert figure.dpi == 100  # the user's figure is left as it was


def test_over_the_cap_without_pil_loaded_is_refused_naming_the_size_and_the_cap(monkeypatch):
    for name in [name for name in sys.modules if name == "PIL" or name.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    png = render_png(3000, 100, 0)
    with pytest.raises(GPTMagicError) as caught:
        as_picture(png, "scan")
    assert str(caught.value) == (
        f"{{scan}} is a 3000×100 PNG of {round(len(png) / 1000)} kB: over the cap for images "
        "in prompts (2048 px, 5 MB). Make it smaller first, e.g. "
        "PIL.Image.open(...).thumbnail((2048, 2048))."
    )
    assert "PIL.Image" not in sys.modules  # refused, not imported


def test_a_decompression_bomb_is_refused_before_decoding():
    header = pictures.PNG_SIGNATURE + b"\0\0\0\x0dIHDR" + struct.pack(">II", 20_000, 20_000)
    with pytest.raises(GPTMagicError, match=r"^\{bomb\} is 20000×20000 pixels: too large"):
        as_picture(header + b"\x08\x02\0\0\0" + b"\0" * 100, "bomb")


def test_an_impossible_cap_is_refused_in_one_line():
    with pytest.raises(GPTMagicError) as caught:
        as_picture(noise("RGBA", (200, 200)), "img", max_bytes=10)
    assert str(caught.value) == (
        "{img} does not fit the cap for images in prompts (2048 px, 10 B) even when scaled "
        "down; make it smaller first."
    )


def test_a_figure_that_fails_to_draw_is_refused_in_one_line():
    figure = chart()
    figure.axes[0].set_title("$\\frac{1}{$")  # a mathtext syntax error surfaces at draw time
    with pytest.raises(GPTMagicError, match=r"^Could not render \{fig\}: ValueError: "):
        as_picture(figure, "fig")


# -- content parts -------------------------------------------------------------------------
def picture_of(png: bytes, label: str = "fig") -> Picture:
    return as_picture(png, label)


def test_an_image_part_is_the_chat_completions_shape_with_a_base64_data_url():
    png = render_png(4, 4, 0)
    assert image_part(picture_of(png)) == {
        "type": "image_url",
        "image_url": {
            "url": "data:image/png;base64," + base64.b64encode(png).decode(),
            "detail": "auto",
        },
    }
    assert image_part(picture_of(png), detail="low")["image_url"]["detail"] == "low"


def test_a_prompt_without_pictures_stays_the_same_string():
    pieces = ["what does ", "{fig}", " show?\n", "", "```py\nx = {1: 2}\n```"]
    content = text_and_images(pieces)
    assert type(content) is str
    assert content == "".join(pieces)


def test_a_prompt_with_pictures_is_text_and_image_parts_in_order():
    a, b = picture_of(render_png(4, 4, 1), "a"), picture_of(render_png(4, 4, 2), "b")
    content = text_and_images(["compare ", a, "", " and", " ", b, b, "?"])
    assert content == [
        {"type": "text", "text": "compare "},
        image_part(a),
        {"type": "text", "text": " and "},
        image_part(b),
        image_part(b),
        {"type": "text", "text": "?"},
    ]


def test_a_picture_alone_is_a_single_image_part():
    a = picture_of(render_png(4, 4, 1))
    assert text_and_images(["", a, ""]) == [image_part(a)]


# -- thumbnails ----------------------------------------------------------------------------
def test_the_placeholder_names_the_label_size_kind_and_bytes():
    assert placeholder(Picture("image/png", b"x" * 23_000, 640, 480, "fig")) == (
        "[image: fig, 640×480 PNG, 23 kB]"
    )
    assert placeholder(Picture("image/jpeg", b"x" * 999, 3, 2)) == "[image: 3×2 JPEG, 999 B]"
    assert placeholder(Picture("image/jpeg", b"x" * 1_250_000, 9, 9, "p")) == (
        "[image: p, 9×9 JPEG, 1.2 MB]"
    )


@pytest.mark.parametrize(
    "size, shown", [(1_000_000, "1 MB"), (999_600, "1 MB"), (999_499, "999 kB")]
)
def test_a_megabyte_is_shown_as_1_mb_never_1000_kb(size, shown):
    assert placeholder(Picture("image/png", b"x" * size, 9, 9)) == f"[image: 9×9 PNG, {shown}]"


def test_the_markdown_thumbnail_is_an_img_scaled_to_the_longest_side_with_the_placeholder():
    picture = as_picture(noise("RGB", (640, 480)), "fig")
    markdown = thumbnail_markdown(picture)
    prefix = '<img src="data:image/png;base64,'
    assert markdown.startswith(prefix)
    assert markdown.endswith(f'" width="160" alt="{placeholder(picture)}">')
    thumb = base64.b64decode(markdown[len(prefix) : markdown.index('"', len(prefix))])
    assert Image.open(io.BytesIO(thumb)).size == (160, 120)  # a real thumbnail, not the image


def test_a_tall_thumbnail_is_limited_by_its_height():
    picture = as_picture(render_png(480, 640, 0), "tall")
    assert ' width="120" ' in thumbnail_markdown(picture)


def test_a_small_picture_is_shown_at_its_own_width():
    picture = as_picture(render_png(100, 50, 0), "small")
    assert thumbnail_markdown(picture) == (
        f'<img src="{picture.data_url}" width="100" alt="{placeholder(picture)}">'
    )


def test_the_thumbnail_alt_text_escapes_the_label():
    picture = Picture("image/png", render_png(8, 8, 0), 8, 8, 'figs["a<b"]')
    assert 'alt="[image: figs[&quot;a&lt;b&quot;], 8×8 PNG' in thumbnail_markdown(picture)


def test_without_pil_a_big_picture_is_shown_as_its_placeholder(monkeypatch):
    monkeypatch.delitem(sys.modules, "PIL.Image")
    big = Picture("image/png", b"\0" * (pictures.THUMBNAIL_EMBED_BYTES + 1), 900, 900, "<b>")
    assert thumbnail_markdown(big) == "[image: &lt;b&gt;, 900×900 PNG, 262 kB]"
    assert thumbnail_output(big) == ({"text/plain": "[image: <b>, 900×900 PNG, 262 kB]"}, {})


def test_without_pil_a_picture_of_exactly_the_embed_cap_is_shown_as_an_image(monkeypatch):
    monkeypatch.delitem(sys.modules, "PIL.Image")
    size = pictures.THUMBNAIL_EMBED_BYTES
    picture = Picture("image/png", b"\0" * size, 900, 900, "p")
    data, metadata = thumbnail_output(picture)
    assert data["image/png"] == base64.b64encode(picture.data).decode()
    assert metadata == {"image/png": {"width": 160}}
    assert thumbnail_markdown(picture).startswith('<img src="data:image/png;base64,AAAA')


def test_the_thumbnail_output_is_an_image_bundle_with_a_width_and_the_placeholder():
    picture = as_picture(render_png(100, 50, 0), "fig")
    data, metadata = thumbnail_output(picture)
    assert data == {
        "text/plain": "[image: fig, 100×50 PNG, 433 B]",
        "image/png": base64.b64encode(picture.data).decode(),
    }
    assert metadata == {"image/png": {"width": 100}}


def images_in(html: str) -> list[dict[str, str]]:
    """The attributes of every ``<img>`` element, as a browser would read them."""

    found = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                found.append(dict(attrs))

    Images().feed(html)
    return found


def export_html(output: dict, *, sanitize: bool) -> str:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%%gpt --dry-run\nwhat does {fig} show?")
    cell.outputs = [nbformat.v4.new_output("display_data", **output)]
    notebook.cells.append(cell)
    body, _ = HTMLExporter(sanitize_html=sanitize).from_notebook_node(notebook)
    return body


def test_nbconvert_html_keeps_the_markdown_thumbnail():
    picture = as_picture(render_png(100, 50, 0), "fig")
    markdown = "**Image:** " + thumbnail_markdown(picture)
    body = export_html({"data": {"text/markdown": markdown}}, sanitize=False)
    alt = placeholder(picture)
    assert {"src": picture.data_url, "width": "100", "alt": alt} in images_in(body)


def test_nbconvert_html_keeps_the_thumbnail_output_even_when_sanitising():
    picture = as_picture(render_png(100, 50, 0), "fig")
    data, metadata = thumbnail_output(picture)
    body = export_html({"data": data, "metadata": metadata}, sanitize=True)
    assert [(i["src"], i["width"]) for i in images_in(body)] == [(picture.data_url, "100")]


# -- nothing heavy is imported -------------------------------------------------------------
def test_gptmagic_imports_no_imaging_or_data_library_for_values_that_are_none():
    script = textwrap.dedent(
        """
        import json, sys
        from IPython.display import Image
        from gptmagic import pictures
        from gptmagic.testing.server import render_png
        png = render_png(3000, 10, 0)
        values = [b"text", "fig", 3, [1], object(), Image(data=render_png(9, 9, 0))]
        found = [pictures.as_picture(value, "v") for value in values]
        small = pictures.as_picture(render_png(90, 10, 0), "p")
        pictures.thumbnail_markdown(small), pictures.thumbnail_output(small)
        pictures.text_and_images(["a", small, "b"])
        try:
            pictures.as_picture(png, "big")
        except pictures.GPTMagicError:
            pass
        heavy = ("matplotlib", "PIL", "pandas", "numpy")
        print(json.dumps([[p is None for p in found], sorted(
            name for name in sys.modules if name.split(".")[0] in heavy)]))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [[True, True, True, True, True, False], []]


# -- a server or model that refuses images -------------------------------------------------
def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


def chat_error(server, model: str, content) -> tuple[openai.APIStatusError, dict]:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(server).chat.completions.create(**body)
    return caught.value, body


def host(server) -> str:
    return server.base_url.split("//")[1].split("/")[0]


def test_a_vision_model_receives_the_image_part_as_sent(server):
    picture = picture_of(render_png(32, 16, 5))
    content = text_and_images(["what does ", picture, " show?"])
    sdk(server).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}]
    )
    sent = server.chat_requests[-1].body["messages"][0]["content"]
    assert sent == content
    assert base64.b64decode(sent[1]["image_url"]["url"].split(",", 1)[1]) == picture.data


def test_a_text_only_model_refusing_an_image_is_explained_in_one_line(server):
    server.models.append("gpt-3.5-turbo")
    content = text_and_images(["what does ", picture_of(render_png(8, 8, 0)), " show?"])
    error, body = chat_error(server, "gpt-3.5-turbo", content)
    assert isinstance(error, openai.BadRequestError)
    assert error.body["param"] == "messages.[0].content.[1].type"  # as OpenAI writes it
    assert image_refusal(error) == image_refusal(error, body) == "no_vision"
    assert explain_image_refusal(
        error, model="gpt-3.5-turbo", host=host(server), labels=["fig"], body=body
    ) == (
        f"gpt-3.5-turbo at {host(server)} does not accept images in prompts ({{fig}}); "
        "use a vision model (-m gpt-4o) or leave the image out."
    )


def test_an_image_the_server_cannot_read_is_explained_as_such(server):
    fake = {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8gd29ybGQh"}}
    error, body = chat_error(server, "gpt-4o", [{"type": "text", "text": "hi"}, fake])
    assert image_refusal(error, body) == "bad_image"
    assert explain_image_refusal(error, model="gpt-4o", host="h", labels=["a", "b"]) == (
        "h could not read the image in the prompt ({a}, {b}) (invalid_image_format); send it "
        "as a PNG or JPEG figure, PIL image or bytes, or leave it out."
    )


def test_an_image_not_supported_code_is_a_refusal_wherever_it_points(server):
    error_body = {"error": {"message": "nope", "type": "invalid_request_error", "param": None}}
    error_body["error"]["code"] = "image_not_supported"
    server.enqueue(Reply(status=400, error=error_body))
    error, _ = chat_error(server, "gpt-4o", "hello")
    assert image_refusal(error) == "no_vision"


def test_a_refusal_pointing_at_a_message_without_images_is_not_an_image_refusal(server):
    error_body = {"error": {"message": "Invalid content type. image_url is only supported.",
                            "type": "invalid_request_error",
                            "param": "messages.[0].content.[0].type", "code": None}}  # fmt: skip
    server.enqueue(Reply(status=400, error=error_body))
    error, body = chat_error(server, "gpt-4o", [{"type": "text", "text": "hello"}])
    assert image_refusal(error, body) is None  # the part pointed at is text
    assert image_refusal(error) == "no_vision"  # without the body, the param is all there is


@pytest.mark.parametrize(
    "param", ["messages[0].content[1]", "'messages.[0].content'", "input[0].content[1].image_url"]
)
def test_a_param_pointing_at_an_image_part_is_read_in_every_servers_spelling(server, param):
    error_body = {"error": {"message": "x", "type": "invalid_request_error", "param": param}}
    server.enqueue(Reply(status=400, error=error_body))
    content = text_and_images(["a", picture_of(render_png(4, 4, 0))])
    error, body = chat_error(server, "gpt-4o", content)
    body = body if param.lstrip("'").startswith("messages") else {"input": body["messages"]}
    assert image_refusal(error, body) == "no_vision"


def test_a_refusal_is_never_read_from_the_wording(server):
    wording = "Invalid content type. image_url is only supported by certain models."
    error_body = {"error": {"message": wording, "type": "invalid_request_error"}}
    server.enqueue(Reply(status=400, error=error_body))
    error, _ = chat_error(server, "gpt-4o", "hello")
    assert image_refusal(error) is None


def test_other_refusals_are_not_image_refusals(server):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(server).chat.completions.create(
            model="o-fixed-temp", messages=[{"role": "user", "content": "x"}], temperature=0.5
        )
    assert image_refusal(caught.value) is None
    server.enqueue(Reply(status=401))
    error, _ = chat_error(server, "gpt-4o", "hello")
    assert explain_image_refusal(error, model="gpt-4o", host="h") is None


def test_a_pil_image_whose_file_was_closed_is_refused_in_one_line(tmp_path):
    path = tmp_path / "chart.png"
    path.write_bytes(render_png(30, 20, 4))
    with Image.open(path) as image:
        pass  # closed before its pixels were loaded
    with pytest.raises(GPTMagicError, match=r"^\{img\} could not be read as an image \("):
        as_picture(image, "img")


def test_a_truncated_png_to_resize_is_refused_with_pils_reason():
    png = render_png(3000, 200, 1)
    with pytest.raises(GPTMagicError) as caught:
        as_picture(png[: len(png) // 2], "cut")
    assert str(caught.value).startswith("{cut} could not be read as an image (OSError: ")


def test_an_axes_in_a_subfigure_is_sent_as_the_whole_figure():
    figure = matplotlib.figure.Figure(figsize=(4, 2))
    left, right = figure.subfigures(1, 2)
    left.add_subplot().plot([1, 2])
    axes = right.add_subplot()
    assert as_picture(axes, "ax").data == as_picture(figure, "fig").data
    assert as_picture(right, "sub").data == as_picture(figure, "fig").data
