"""``--dry-run``: what a cell would send, shown instead of sent.

The user message comes first, readable (tables drawn, code fenced, each image as a thumbnail
between its text), then the request body as JSON with image data shortened, under one line
with the URL (without ``user:password@``) and an estimate of the prompt tokens.
"""

from __future__ import annotations

import json
from typing import Any

from .content import Content, message_tokens, text_of


def show_dry_run(
    messages: list[dict[str, Any]], body: dict[str, Any], url: str, images: list[str]
) -> None:
    """Show the request ``body`` (built from ``messages``) that would be POSTed to ``url``;
    ``images`` are the ``{name}`` labels of the prompt's images, in order."""
    from IPython.display import display

    from .content import shorten_data_urls
    from .context import unclosed_fence

    tokens = sum(message_tokens(m["content"]) for m in messages)
    text = json.dumps(shorten_data_urls(body), indent=2, ensure_ascii=False)
    content = messages[-1]["content"]
    prompt = text_of(content)
    summary = f"Dry run: nothing sent. POST {url}, ≈{tokens:,} prompt tokens (estimate)."
    # Rules delimit the message; a fence it leaves open is closed so the JSON stays JSON.
    fence = unclosed_fence(prompt)
    pieces = dry_run_pieces(content, "\n" + fence if fence else "", images)
    head = f"{summary}\n\n**The user message, as it will be sent:**\n\n---\n\n"
    tail = f"\n\n---\n\n**The request body:**\n\n```json\n{text}\n```"
    plain_head = f"{summary}\n\n----- the user message, as it will be sent -----\n"
    plain_tail = f"\n----- the request body -----\n{text}"
    metadata = {"gptmagic": {"dry_run": True, "estimated_prompt_tokens": tokens}}
    if len(pieces) == 1:  # text only: one output, as before images existed
        markdown, plain = f"{head}{pieces[0][0]}{tail}", f"{plain_head}{prompt}{plain_tail}"
        display({"text/markdown": markdown, "text/plain": plain}, raw=True, metadata=metadata)
        return
    from .pictures import thumbnail_output

    pieces[0] = (head + pieces[0][0], plain_head + pieces[0][1])
    pieces[-1] = (pieces[-1][0] + tail, pieces[-1][1] + plain_tail)
    for piece in pieces:
        if isinstance(piece, tuple):
            display(
                {"text/markdown": piece[0], "text/plain": piece[1]}, raw=True, metadata=metadata
            )
        else:
            data, image_metadata = thumbnail_output(piece)
            display(data, raw=True, metadata={**image_metadata, **metadata})


def dry_run_pieces(content: Content, closing: str, images: list[str]) -> list[Any]:
    """(markdown, plain) texts with each image (a Picture, labelled from ``images``) between
    them, in order; a text piece before, between and after the images, even an empty one."""
    from dataclasses import replace

    from .content import pieces as content_pieces

    out: list[Any] = [["", ""]]
    labels = iter(images)
    for piece in content_pieces(content):
        if isinstance(piece, str):
            out[-1][0] += piece
            out[-1][1] += piece
        else:
            out += [replace(piece, label=next(labels, "")), ["", ""]]
    out[-1][0] += closing
    return [tuple(p) if isinstance(p, list) else p for p in out]
