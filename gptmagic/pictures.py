"""Pictures in prompts: ``{fig}`` sends a chart, a photo or PNG/JPEG bytes as an image part.

A value becomes a :class:`Picture` only when it is one of the types below, recognised without
importing anything: matplotlib and PIL are looked up in ``sys.modules`` (a Figure or a PIL
image cannot exist unless its library is imported), bytes are sniffed by their magic numbers,
never by a name. Sizes are read from the PNG and JPEG headers by tiny parsers, so checking the
caps needs no imaging library. Anything else gives ``None`` and keeps its text rendering.

The caps keep a request within what vision models take: a longest side of :data:`MAX_SIDE`
pixels (beyond it the API scales down anyway) and :data:`MAX_BYTES` per image. Figures are
rendered at a lower dpi to fit, PIL images are resized; raw bytes are resized only when PIL is
already loaded, otherwise refused with a one-line error naming the size and the cap.

Chat Completions' content parts are the neutral shape (the Responses backend maps them):
:func:`text_and_images` returns the plain prompt string when there is no picture, so requests
without images stay byte-for-byte what they were.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import GPTMagicError, error_field

MAX_SIDE = 2048  # px, longest side: OpenAI's high-detail limit
MAX_BYTES = 5_000_000  # per image, before base64 (about 6.7 MB as a data URL)
MAX_PIXELS = 64_000_000  # never decode a bigger image to resize it (a decompression bomb)
THUMBNAIL_SIDE = 160
THUMBNAIL_EMBED_BYTES = 256 * 1024  # without PIL, a bigger picture is shown as text only
JPEG_QUALITY = 85

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
_KINDS = {"image/png": "PNG", "image/jpeg": "JPEG"}
# SOFn markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but don't.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length field
_PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}

# Error codes servers give for an image they cannot read, and for a model that takes no images.
BAD_IMAGE_CODES = frozenset(
    {"invalid_image", "invalid_image_format", "image_parse_error", "invalid_image_url"}
)
NO_VISION_CODES = frozenset({"image_not_supported"})
# ``param`` pointing into a message's content: OpenAI writes ``messages.[1].content.[1].type``,
# others ``messages[1].content[1]``; the Responses API ``input[0].content[1]``. Some quote it.
_CONTENT_PARAM = re.compile(r"^'?(messages|input)\.?\[(\d+)\]\.content(?:\.?\[(\d+)\])?")
_IMAGE_PART_TYPES = ("image_url", "input_image")


@dataclass(frozen=True)
class Picture:
    """An image ready to send: PNG or JPEG bytes within the caps, and what to call it."""

    mime: str  # "image/png" or "image/jpeg"
    data: bytes = field(repr=False)
    width: int
    height: int
    label: str = ""  # the ``{name}`` it came from, e.g. "fig"

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


# -- recognising a value -------------------------------------------------------------------
def as_picture(
    value: Any, label: str = "", *, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES
) -> Picture | None:
    """``value`` as a :class:`Picture` within the caps, or ``None`` if it is no image.

    Recognised: a matplotlib ``Figure`` (or ``Axes``: its figure), a PIL image, an IPython
    ``Image`` holding data, and ``bytes``/``bytearray``/``memoryview`` starting with the PNG or
    JPEG signature. An image that cannot be read or brought within the caps raises a one-line
    :class:`GPTMagicError` naming ``{label}``.
    """
    caps = (max_side, max_bytes)
    figure = _figure_of(value)
    if figure is not None:
        return _from_figure(figure, label, *caps)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and issubclass(type(value), pil.Image):
        return _from_pil(value, label, *caps)
    data = _image_bytes(value)
    if data is None:
        return None
    return _from_bytes(data, label, *caps)


def is_picture(value: Any) -> bool:
    """Whether :func:`as_picture` would take ``value``, without rendering or resizing it."""
    if _figure_of(value) is not None:
        return True
    pil = sys.modules.get("PIL.Image")
    if pil is not None and issubclass(type(value), pil.Image):
        return True
    return _image_bytes(value) is not None


def _figure_of(value: Any) -> Any:
    """The matplotlib Figure that ``value`` is (or that an Axes or SubFigure belongs to).

    Here and below a value's type is read with ``type()``, never ``isinstance``, which asks
    the value for ``__class__``: a lazy object runs code to answer, or raises."""
    figures, axes = sys.modules.get("matplotlib.figure"), sys.modules.get("matplotlib.axes")
    if figures is None:
        return None
    kind = type(value)
    if issubclass(kind, figures.Figure):
        return value
    subfigure = getattr(figures, "SubFigure", ())  # matplotlib >= 3.4
    if issubclass(kind, subfigure) or (axes is not None and issubclass(kind, axes.Axes)):
        root = value.figure
        root = getattr(root, "figure", root) if isinstance(root, subfigure) else root
        return root if isinstance(root, figures.Figure) else None
    return None


def _image_bytes(value: Any) -> bytes | None:
    """The bytes of a raw PNG/JPEG value (or an IPython ``Image``'s data); None otherwise."""
    display = sys.modules.get("IPython.core.display")
    if display is not None and issubclass(type(value), display.Image):
        value = value.data
    if issubclass(type(value), memoryview):
        try:
            value = value.cast("B")
        except (TypeError, ValueError):  # not contiguous, or not cast-able to bytes
            return None
    if not issubclass(type(value), (bytes, bytearray, memoryview)):
        return None
    head = bytes(value[:12])
    if sniff(head) is None and _convertible(head) is None:
        return None
    return bytes(value)


def sniff(data: bytes) -> str | None:
    """The MIME type of PNG or JPEG bytes, from their magic numbers; None for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(JPEG_SIGNATURE):
        return "image/jpeg"
    return None


def _convertible(data: bytes) -> str | None:
    """ "GIF" or "WebP" for bytes of those formats (what an image server may send), which go
    to the model only as PNG; None for anything else."""
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


# -- sizes from the headers ----------------------------------------------------------------
def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None when it is missing or invalid."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[8:16] != b"\0\0\0\x0dIHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if 0 < width < 2**31 and 0 < height < 2**31 else None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF marker, or None when it is missing or truncated.

    Walks the marker segments up to the first SOFn. Every step consumes at least one byte, so
    hostile input ends the loop; a scan (SOS) or the end (EOI) before any SOF gives None.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    i, end = 2, len(data)
    while i < end:
        if data[i] != 0xFF:
            return None
        while i < end and data[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= end:
            return None
        marker = data[i]
        i += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA) or i + 2 > end:
            return None
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if length < 7 or i + 7 > end:
                return None
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            return (width, height) if width and height else None
        i += length
    return None


DIGEST_MAX_PIXELS = 50_000_000  # past this a PNG is keyed by its bytes, never decoded


def pixel_digest(data: bytes) -> str | None:
    """The SHA-256 of a PNG's size and RGBA pixels, or None when ``data`` is not a PNG that
    can be read here (no Pillow, unreadable, or over ``DIGEST_MAX_PIXELS``).

    The same picture gives the same digest however it was encoded (another zlib or Pillow
    version, compression level or row filters, a palette or not) and whatever text chunks it
    carries (matplotlib writes its version in one), so a chart drawn again elsewhere still
    finds its recording in a replay cache. Pillow decodes it: a figure in a prompt means
    matplotlib, which depends on Pillow; without it the caller keys the bytes. The size is
    read from the header first, so a small file claiming a huge image is never decoded.
    """
    size = png_size(data)
    if size is None or size[0] * size[1] > DIGEST_MAX_PIXELS:
        return None
    try:
        from PIL import Image
    except ImportError:
        return None
    import hashlib

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            pixels = image.convert("RGBA")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    header = f"{pixels.width}x{pixels.height}".encode()
    return hashlib.sha256(header + pixels.tobytes()).hexdigest()


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """(mime, width, height) of PNG or JPEG bytes, or None when they are neither or unreadable."""
    mime = sniff(data)
    size = png_size(data) if mime == "image/png" else jpeg_size(data) if mime else None
    return (mime, *size) if mime and size else None


# -- bringing an image within the caps -----------------------------------------------------
def _from_bytes(data: bytes, label: str, max_side: int, max_bytes: int) -> Picture:
    if kind := _convertible(data):
        return _converted(data, kind, label, max_side, max_bytes)
    info = image_size(data)
    if info is None:
        kind = _KINDS[sniff(data) or "image/png"]
        raise GPTMagicError(
            f"{_name(label)} starts like a {kind} image but its header cannot be read "
            "(truncated or damaged); nothing was sent."
        )
    mime, width, height = info
    if max(width, height) <= max_side and len(data) <= max_bytes:
        return Picture(mime, data, width, height, label)
    pil = sys.modules.get("PIL.Image")
    if pil is None:  # resizing would mean importing PIL for a value that is not a PIL image
        raise GPTMagicError(
            f"{_name(label)} is a {width}×{height} {_KINDS[mime]} of {size_text(len(data))}: over "
            f"the cap for images in prompts ({max_side} px, {size_text(max_bytes)}). Make it "
            f"smaller first, e.g. PIL.Image.open(...).thumbnail(({max_side}, {max_side}))."
        )
    _check_pixels(width, height, label)
    try:
        image = pil.open(io.BytesIO(data))
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, ValueError...
        raise _unreadable(label, exc) from None
    return _from_pil(image, label, max_side, max_bytes, jpeg=mime == "image/jpeg")


def _converted(data: bytes, kind: str, label: str, max_side: int, max_bytes: int) -> Picture:
    """GIF or WebP bytes (its first frame) as PNG, by PIL when the kernel has it loaded; else
    one line saying how, since reading them would mean importing PIL for bytes."""
    pil = sys.modules.get("PIL.Image")
    if pil is None:
        raise GPTMagicError(
            f"{_name(label)} is a {kind} image: images in prompts are sent as PNG or JPEG, and "
            "gptmagic converts one only in a kernel that has PIL loaded. Run import PIL.Image "
            "(pip install pillow) and run this cell again; nothing was sent."
        )
    try:
        image = pil.open(io.BytesIO(data), formats=[kind.upper()])
    except Exception as exc:  # a truncated or damaged file: PIL raises many kinds
        raise _unreadable(label, exc) from None
    return _from_pil(image, label, max_side, max_bytes)


def _from_pil(
    image: Any, label: str, max_side: int, max_bytes: int, *, jpeg: bool = False
) -> Picture:
    """A PIL image as PNG (JPEG when it came as one, or has no alpha and PNG is too big)."""
    width, height = image.size
    if not width or not height:
        raise GPTMagicError(f"{_name(label)} is an empty image ({width}×{height}).")
    _check_pixels(width, height, label)
    scale = min(1.0, max_side / max(width, height))
    try:
        for _ in range(6):
            frame = _resized(image, scale)
            data = _encode(frame, jpeg)
            if len(data) <= max_bytes:
                mime = "image/jpeg" if jpeg else "image/png"
                return Picture(mime, data, frame.size[0], frame.size[1], label)
            if not jpeg and not _has_alpha(frame):
                jpeg = True  # a photo: JPEG is a fraction of PNG's size
            else:
                scale *= 0.9 * math.sqrt(max_bytes / len(data))
    except Exception as exc:  # PIL fails in many ways: a closed file (AssertionError), a
        raise _unreadable(label, exc) from None  # truncated one (OSError), an odd mode...
    raise _over_cap(label, max_side, max_bytes)


def _resized(image: Any, scale: float) -> Any:
    if scale >= 1.0:
        return image
    pil = sys.modules["PIL.Image"]
    if image.mode not in ("RGB", "RGBA", "L", "LA"):  # palette and odd modes resize badly
        image = image.convert(_rgb(image))
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.resize(size, pil.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(image: Any, jpeg: bool) -> bytes:
    out = io.BytesIO()
    if jpeg:
        frame = image if image.mode in ("RGB", "L") else image.convert("RGB")
        frame.save(out, format="JPEG", quality=JPEG_QUALITY)
    else:
        frame = image if image.mode in _PNG_MODES else image.convert(_rgb(image))
        frame.save(out, format="PNG")
    return out.getvalue()


def _rgb(image: Any) -> str:
    return "RGBA" if _has_alpha(image) else "RGB"


def _has_alpha(image: Any) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _from_figure(figure: Any, label: str, max_side: int, max_bytes: int) -> Picture:
    """Render at the figure's own dpi, lowered until the PNG fits both caps."""
    longest_inches = max(*figure.get_size_inches(), 1e-3)
    dpi = min(float(figure.dpi), max_side / longest_inches)
    for _ in range(6):
        out = io.BytesIO()
        try:
            figure.savefig(out, format="png", dpi=dpi, bbox_inches="tight")
        except Exception as exc:  # a user's figure can fail to draw in any way
            raise GPTMagicError(
                f"Could not render {_name(label)}: {type(exc).__name__}: {exc}"
            ) from None
        data = out.getvalue()
        size = png_size(data)
        if size is None:
            raise GPTMagicError(f"Could not render {_name(label)}: matplotlib wrote no PNG.")
        if max(size) <= max_side and len(data) <= max_bytes:
            return Picture("image/png", data, *size, label)
        dpi *= 0.95 * min(max_side / max(size), math.sqrt(max_bytes / len(data)))
    raise _over_cap(label, max_side, max_bytes)


def _check_pixels(width: int, height: int, label: str) -> None:
    if width * height > MAX_PIXELS:
        raise GPTMagicError(
            f"{_name(label)} is {width}×{height} pixels: too large to resize safely "
            f"(over {MAX_PIXELS:,} pixels). Make it smaller before sending it."
        )


def _unreadable(label: str, exc: BaseException) -> GPTMagicError:
    detail = " ".join(str(exc).split())[:200]
    cause = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return GPTMagicError(f"{_name(label)} could not be read as an image ({cause}).")


def _over_cap(label: str, max_side: int, max_bytes: int) -> GPTMagicError:
    return GPTMagicError(
        f"{_name(label)} does not fit the cap for images in prompts ({max_side} px, "
        f"{size_text(max_bytes)}) even when scaled down; make it smaller first."
    )


def _name(label: str) -> str:
    return f"{{{label}}}" if label else "The image"


def size_text(count: int) -> str:
    """Bytes in the unit a reader expects: 999,600 bytes is "1 MB", never "1000 kB"."""
    if count < 1000:
        return f"{count} B"
    if count < 999_500:  # rounds to 999 kB at most
        return f"{round(count / 1000)} kB"
    return f"{count / 1_000_000:.1f}".removesuffix(".0") + " MB"


# -- content parts -------------------------------------------------------------------------
def image_part(picture: Picture, detail: str = "auto") -> dict[str, Any]:
    """The Chat Completions content part that sends ``picture`` (base64 data URL)."""
    return {"type": "image_url", "image_url": {"url": picture.data_url, "detail": detail}}


def text_and_images(pieces: Iterable[str | Picture]) -> str | list[dict[str, Any]]:
    """A user message's content from the prompt's pieces, in order.

    Without a picture it is the plain string the pieces join to (the request is unchanged);
    with one, a list of parts: adjacent text merged into one text part (empty text dropped),
    each picture an image part where it stood.
    """
    pieces = list(pieces)
    if not any(isinstance(piece, Picture) for piece in pieces):
        return "".join(pieces)  # type: ignore[arg-type]
    parts: list[dict[str, Any]] = []
    text: list[str] = []
    for piece in pieces:
        if isinstance(piece, Picture):
            if "".join(text):
                parts.append({"type": "text", "text": "".join(text)})
            text = []
            parts.append(image_part(piece))
        else:
            text.append(piece)
    if "".join(text):
        parts.append({"type": "text", "text": "".join(text)})
    return parts


# -- showing a picture in --dry-run and %gpt history ---------------------------------------
def placeholder(picture: Picture) -> str:
    """The text/plain stand-in, e.g. ``[image: fig, 640×480 PNG, 23 kB]``."""
    name = f"{picture.label}, " if picture.label else ""
    kind = _KINDS.get(picture.mime, picture.mime)
    return f"[image: {name}{picture.width}×{picture.height} {kind}, {size_text(len(picture.data))}]"


def thumbnail_markdown(picture: Picture, max_side: int = THUMBNAIL_SIDE) -> str:
    """A small inline ``<img>`` for Markdown, with the placeholder as its alt text.

    JupyterLab (trusted or not), VS Code and nbconvert's HTML keep a ``data:`` image in an
    ``<img>``; GitHub drops its ``src`` and nbconvert's ``sanitize_html`` escapes the tag, so
    a saved output that must render everywhere should use :func:`thumbnail_output`. Without
    PIL loaded, a picture over :data:`THUMBNAIL_EMBED_BYTES` is shown as its placeholder.
    """
    thumb = _thumbnail(picture, max_side)
    if thumb is None:
        return html.escape(placeholder(picture), quote=False)
    alt = html.escape(placeholder(picture))
    return f'<img src="{thumb.data_url}" width="{_display_width(thumb, max_side)}" alt="{alt}">'


def thumbnail_output(
    picture: Picture, max_side: int = THUMBNAIL_SIDE
) -> tuple[dict[str, str], dict[str, Any]]:
    """``(data, metadata)`` for ``display(data, metadata=metadata, raw=True)``: the image as
    its own MIME output, which GitHub, nbviewer and nbconvert render; the placeholder as
    text/plain (and alone when the picture is too big to embed without PIL)."""
    data = {"text/plain": placeholder(picture)}
    thumb = _thumbnail(picture, max_side)
    if thumb is None:
        return data, {}
    data[thumb.mime] = base64.b64encode(thumb.data).decode("ascii")
    return data, {thumb.mime: {"width": _display_width(thumb, max_side)}}


def _thumbnail(picture: Picture, max_side: int) -> Picture | None:
    """A copy at most ``max_side`` px when PIL is loaded; else the picture if small enough."""
    pil = sys.modules.get("PIL.Image")
    if pil is not None and max(picture.width, picture.height) > max_side:
        try:
            image = pil.open(io.BytesIO(picture.data))
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at a fraction of the size
            jpeg = picture.mime == "image/jpeg"
            scale = max_side / max(image.size)
            data = _encode(_resized(image, scale), jpeg)
            frame = image_size(data)
            if frame:
                return Picture(frame[0], data, frame[1], frame[2], picture.label)
        except Exception:  # any PIL failure: show the full picture (or the placeholder)
            pass
    return picture if len(picture.data) <= THUMBNAIL_EMBED_BYTES else None


def _display_width(picture: Picture, max_side: int) -> int:
    longest = max(picture.width, picture.height)
    return max(1, round(picture.width * min(1.0, max_side / longest)))


# -- a server or model that refuses images -------------------------------------------------
def image_refusal(exc: BaseException, body: dict[str, Any] | None = None) -> str | None:
    """``"no_vision"`` or ``"bad_image"`` when ``exc`` refuses the images of a request.

    Matched by the SDK's class (400 or 422) and the error body's fields, never its wording: a
    ``code`` from :data:`BAD_IMAGE_CODES` or :data:`NO_VISION_CODES`, or a ``param`` pointing
    into a message's content (OpenAI: ``messages.[1].content.[1].type``). With the request
    ``body``, that message must hold an image part (and the part pointed at must be one).
    """
    import openai

    if not isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
        return None
    code = error_field(exc, "code")
    if code in BAD_IMAGE_CODES:
        return "bad_image"
    if code in NO_VISION_CODES:
        return "no_vision"
    match = _CONTENT_PARAM.match(error_field(exc, "param") or "")
    if match is None:
        return None
    if body is None:
        return "no_vision" if match[3] is not None else None
    messages = body.get(match[1])
    index = int(match[2])
    if not isinstance(messages, list) or index >= len(messages):
        return None
    content = messages[index].get("content") if isinstance(messages[index], dict) else None
    if not isinstance(content, list):
        return None
    pointed = content if match[3] is None else content[int(match[3]) : int(match[3]) + 1]
    return "no_vision" if any(_is_image_part(part) for part in pointed) else None


def explain_image_refusal(
    exc: BaseException,
    *,
    model: str,
    host: str,
    labels: Sequence[str] = (),
    body: dict[str, Any] | None = None,
) -> str | None:
    """The one-line message for an image refusal (see :func:`image_refusal`), else None."""
    kind = image_refusal(exc, body)
    names = ", ".join(f"{{{label}}}" for label in labels if label)
    which = f" ({names})" if names else ""
    if kind == "no_vision":
        return (
            f"{model} at {host} does not accept images in prompts{which}; use a vision model "
            "(-m gpt-4o) or leave the image out."
        )
    if kind == "bad_image":
        code = error_field(exc, "code")
        return (
            f"{host} could not read the image in the prompt{which} ({code}); send it as a "
            "PNG or JPEG figure, PIL image or bytes, or leave it out."
        )
    return None


def _is_image_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in _IMAGE_PART_TYPES
