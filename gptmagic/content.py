"""A message's content: the plain prompt string, or a list of parts when it carries images.

Parts have Chat Completions' shape (``{"type": "text", "text"}``, ``{"type": "image_url",
"image_url": {"url": "data:image/png;base64,...", "detail"}}``); the backends map them. These
helpers let the conversation, the dry run, the cache and the exports treat both forms alike:
the text with a placeholder per image, a token estimate, the pictures back from their data
URLs, a body with data URLs shortened for reading, and messages with each image's bytes
replaced by their hash (the replay cache's key: an image is never stored there). Text-only
content never imports pictures.py or hashlib.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .tokens import MESSAGE_OVERHEAD, estimate_tokens

if TYPE_CHECKING:  # pictures.py is imported on first use: %load_ext stays light
    from .pictures import Picture

Content = str | list[dict[str, Any]]

_DATA_URL = re.compile(r"^data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/]*={0,2})$")
# Enough of an image's base64 to find its size: a PNG's IHDR is in the first 24 bytes, the
# SOF of a JPEG written by PIL or matplotlib within a few hundred; 64 kB covers EXIF too.
_HEADER_CHARS = 87_384
# OpenAI's image cost (high detail; "auto" counts as high here): 85 + 170 per 512-px tile
# after scaling into 2048×2048 and the shortest side down to 768. Other models count more
# (gpt-4o-mini about 33× as many): like every gptmagic estimate, it is labelled as one.
IMAGE_BASE_TOKENS, IMAGE_TILE_TOKENS = 85, 170
IMAGE_FALLBACK_TOKENS = IMAGE_BASE_TOKENS + 4 * IMAGE_TILE_TOKENS  # a 1024×1024 image
DETAILS = ("auto", "low", "high")
SHORT_URL_CHARS = 100  # data URLs longer than this are shortened in the dry run's JSON


def is_parts(content: Any) -> bool:
    return isinstance(content, list)


def image_parts(content: Content) -> list[dict[str, Any]]:
    return [p for p in content if p.get("type") == "image_url"] if is_parts(content) else []


def image_url(part: dict[str, Any]) -> str:
    image = part.get("image_url")
    return image.get("url", "") if isinstance(image, dict) else str(image or "")


def picture_of(part: dict[str, Any], label: str = "") -> Picture | None:
    """The picture an image part's data URL holds (None: not a PNG/JPEG data URL)."""
    from .pictures import Picture, image_size

    match = _DATA_URL.match(image_url(part))
    if match is None:
        return None
    try:
        data = base64.b64decode(match[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    info = image_size(data)
    return Picture(info[0], data, info[1], info[2], label) if info else None


def text_of(content: Content, image: Callable[[dict[str, Any]], str] | None = None) -> str:
    """The content as text: each image as ``image(part)`` (default: its placeholder)."""
    if not is_parts(content):
        return content  # type: ignore[return-value]
    shown = image or part_placeholder
    return "".join(p.get("text", "") if p.get("type") == "text" else shown(p) for p in content)


def part_placeholder(part: dict[str, Any]) -> str:
    from .pictures import placeholder

    picture = picture_of(part)
    return placeholder(picture) if picture else "[image]"


def pieces(content: Content) -> list[str | Picture]:
    """The content as text and pictures in order (an unreadable image as its placeholder)."""
    if not is_parts(content):
        return [content] if content else []  # type: ignore[list-item]
    out: list[str | Picture] = []
    for part in content:  # type: ignore[union-attr]
        if part.get("type") == "text":
            out.append(part.get("text", ""))
        else:
            out.append(picture_of(part) or "[image]")
    return out


def append_text(content: Content, text: str) -> Content:
    """``content`` with ``text`` after it (a new list; the last text part extended)."""
    if not is_parts(content):
        return content + text  # type: ignore[operator]
    parts = list(content)
    if parts and parts[-1].get("type") == "text":
        parts[-1] = {**parts[-1], "text": parts[-1]["text"] + text}
    else:
        parts.append({"type": "text", "text": text})
    return parts


def map_text(content: Content, change: Callable[[str], str]) -> Content:
    if not is_parts(content):
        return change(content)  # type: ignore[arg-type]
    return [{**p, "text": change(p["text"])} if p.get("type") == "text" else p for p in content]


# -- tokens --------------------------------------------------------------------------------
def image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """OpenAI's documented count for one image (``low``: 85; else by 512-px tiles)."""
    if detail == "low":
        return IMAGE_BASE_TOKENS
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * tiles


def part_tokens(part: dict[str, Any]) -> int:
    if part.get("type") == "text":
        return estimate_tokens(part.get("text", ""))
    size = _header_size(image_url(part))
    detail = (part.get("image_url") or {}).get("detail", "auto")
    return image_tokens(*size, detail) if size else IMAGE_FALLBACK_TOKENS


def content_tokens(content: Content) -> int:
    """A labelled estimate: text by length, each image by its size (see :func:`image_tokens`)."""
    if not is_parts(content):
        return estimate_tokens(content)  # type: ignore[arg-type]
    return sum(part_tokens(p) for p in content)  # type: ignore[union-attr]


def message_tokens(content: Content) -> int:
    return content_tokens(content) + MESSAGE_OVERHEAD


def _header_size(url: str) -> tuple[int, int] | None:
    """An image's size from the start of its data URL only (no full decode per estimate)."""
    if not url.startswith("data:image/"):
        return None
    from .pictures import image_size

    start = url.find(",") + 1
    b64 = url[start : start + _HEADER_CHARS]
    try:
        info = image_size(base64.b64decode(b64[: len(b64) // 4 * 4], validate=True))
    except (binascii.Error, ValueError):
        return None
    return (info[1], info[2]) if info else None


# -- shortened and hashed forms ------------------------------------------------------------
def shorten_data_urls(value: Any) -> Any:
    """A copy of a request body with each long ``data:`` image URL cut to its type and size,
    e.g. ``data:image/png;base64,…(23 kB)``: the dry run shows the request, not megabytes.
    Only the URL fields of image parts (``url``, ``image_url``) are cut, never a prompt."""
    if isinstance(value, list):
        return [shorten_data_urls(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        k: _short(v) if k in ("url", "image_url") and isinstance(v, str) else shorten_data_urls(v)
        for k, v in value.items()
    }


def _short(url: str) -> str:
    if not url.startswith("data:") or len(url) <= SHORT_URL_CHARS:
        return url
    from .pictures import size_text

    head, _, data = url.partition(",")
    return f"{head},…({size_text(len(data) * 3 // 4)})"


def hashed_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with each image part replaced by a hash: a PNG by the SHA-256 of its
    pixels (``pictures.pixel_digest``), anything else by the SHA-256 of its URL and its size.

    The replay cache keys and keeps this form: a recording holds no image bytes, a key costs
    one hash per image, and the same picture gives the same key, even a chart drawn again with
    another matplotlib, Pillow or zlib that compresses it differently.
    """
    out = []
    for message in messages:
        content = message.get("content")
        if is_parts(content):
            message = {**message, "content": [_hashed(p) for p in content]}
        out.append(message)
    return out


def _hashed(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") != "image_url":
        return part
    import hashlib

    from .pictures import pixel_digest

    url = image_url(part)
    detail = (part.get("image_url") or {}).get("detail", "auto")
    picture = picture_of(part)
    if picture is not None and (pixels := pixel_digest(picture.data)) is not None:
        return {"type": "image", "png_pixels": pixels, "detail": detail}
    digest = hashlib.sha256(url.encode()).hexdigest()
    return {"type": "image", "sha256": digest, "chars": len(url), "detail": detail}


# -- checking parts read from a file -------------------------------------------------------
def checked_content(content: Any, where: str) -> Content:
    """Content read from a file (``%gpt load``): text, or the parts gptmagic writes, rebuilt
    with only their known fields (a hand-added field is never sent to a server).

    Raises ValueError naming the first part that is not a text part or an image part with a
    PNG/JPEG data URL whose bytes are an image.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise ValueError(f"{where}: 'content' must be text or a list of parts")
    parts: list[dict[str, Any]] = []
    for number, part in enumerate(content, 1):
        at = f"{where}: part {number}"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise ValueError(f"{at}: a text part's 'text' must be text")
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            detail = image.get("detail", "auto") if isinstance(image, dict) else None
            if detail not in DETAILS:
                raise ValueError(f"{at}: 'image_url' must hold a 'url' and a 'detail' of {DETAILS}")
            if picture_of(part) is None:
                raise ValueError(f"{at}: the image must be a PNG or JPEG data URL")
            image = {"url": image["url"], "detail": detail}
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise ValueError(f"{at}: 'type' must be 'text' or 'image_url'")
    return parts
