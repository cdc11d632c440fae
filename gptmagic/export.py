"""Saving and loading the conversation: JSON (lossless), Markdown and notebooks.

JSON keeps everything, metadata included. Markdown and ``.ipynb`` are for reading and
sharing; they carry each message's role in a marker (an HTML comment, or cell metadata) so
they load back without guessing from headings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .conversation import Conversation, Message, Turn
from .errors import GPTMagicError
from .render import provenance_line

FORMAT = "gptmagic.conversation"
VERSION = 1
ROLE_TITLES = {"system": "System", "user": "User", "assistant": "Assistant"}
MARKER = re.compile(r"^<!-- gptmagic:(system|user|assistant)(?: (\{.*\}))? -->$", re.M)
# What an exported answer carries of its output metadata (the .json export keeps all of it).
PROVENANCE = (
    "model",
    "host",
    "parameters",
    "usage",
    "estimated_usage",
    "finish_reason",
    "status",
    "timestamp",
    "replayed",
    "recorded",
)


def message_dict(m: Message) -> dict[str, Any]:
    return {
        "role": m.role,
        "content": m.content,
        "tokens": m.tokens,
        "tokens_exact": m.tokens_exact,
        "meta": m.meta,
    }


def to_json(conv: Conversation) -> str:
    data = {
        "format": FORMAT,
        "version": VERSION,
        "system": conv.system,
        "turns": [
            {"user": message_dict(t.user), "assistant": message_dict(t.assistant)}
            for t in conv.turns
        ],
    }
    return json.dumps(data, indent=1, ensure_ascii=False)


def from_json(text: str) -> Conversation:
    data = json.loads(text)
    if data.get("format") != FORMAT:
        raise ValueError("not a gptmagic conversation file")
    turns = [Turn(Message(**t["user"]), Message(**t["assistant"])) for t in data["turns"]]
    return Conversation(system=data.get("system", ""), turns=turns)


def shown(m: Message) -> str:
    """The message as exported: an answer opens with a visible line of its provenance."""
    line = provenance_line(m.meta)
    return f"{line}\n\n{m.content}" if line else m.content


def unshown(text: str, meta: dict[str, Any]) -> str:
    """The message's content without the provenance line :func:`shown` added."""
    line = provenance_line(meta)
    if not line or not text.startswith(line):
        return text
    return text[len(line) :].removeprefix("\n\n")


def to_markdown(conv: Conversation) -> str:
    blocks = []
    for m in conv.messages:
        meta = {k: m.meta[k] for k in PROVENANCE if k in m.meta}
        tag = f" {json.dumps(meta, ensure_ascii=False)}" if meta else ""
        blocks.append(f"<!-- gptmagic:{m.role}{tag} -->\n### {ROLE_TITLES[m.role]}\n\n{shown(m)}")
    return "\n\n".join(blocks) + "\n"


def from_markdown(text: str) -> Conversation:
    marks = list(MARKER.finditer(text))
    if not marks:
        raise ValueError("no gptmagic role markers found")
    messages = []
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        chunk = text[mark.end() : following.start() if following else len(text)]
        content = re.sub(r"^\s*### \w+\s*\n", "", chunk, count=1).strip()
        meta = json.loads(mark.group(2)) if mark.group(2) else {}
        messages.append(Message(mark.group(1), unshown(content, meta), meta=meta))
    return from_messages(messages)


def to_notebook(conv: Conversation) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    for m in conv.messages:
        cell = nbformat.v4.new_markdown_cell(f"**{ROLE_TITLES[m.role]}**\n\n{shown(m)}")
        cell.metadata["gptmagic"] = {"role": m.role, "meta": m.meta}
        nb.cells.append(cell)
    return nbformat.writes(nb)


def from_notebook(text: str) -> Conversation:
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    messages = []
    for cell in nb.cells:
        info = cell.metadata.get("gptmagic")
        if not info:
            continue
        title = f"**{ROLE_TITLES[info['role']]}**\n\n"
        content = cell.source[len(title) :] if cell.source.startswith(title) else cell.source
        meta = info.get("meta", {})
        messages.append(Message(info["role"], unshown(content, meta), meta=meta))
    return from_messages(messages)


def from_messages(messages: list[Message]) -> Conversation:
    conv = Conversation()
    if messages and messages[0].role == "system":
        conv.system = messages.pop(0).content
    pairs = list(zip(messages[::2], messages[1::2], strict=False))
    if len(messages) % 2 or any((u.role, a.role) != ("user", "assistant") for u, a in pairs):
        raise ValueError("messages must alternate user/assistant after the system prompt")
    conv.turns = [Turn(u, a) for u, a in pairs]
    return conv


WRITERS = {".json": to_json, ".md": to_markdown, ".ipynb": to_notebook}
READERS = {".json": from_json, ".md": from_markdown, ".ipynb": from_notebook}


def save(conv: Conversation, path: str) -> Path:
    target = Path(path).expanduser()
    writer = WRITERS.get(target.suffix.lower())
    if writer is None:
        raise GPTMagicError(
            f"Cannot save as {target.suffix or 'no suffix'!r}: use .json, .md or .ipynb."
        )
    target.write_text(writer(conv), encoding="utf-8")
    return target


def load(path: str) -> Conversation:
    source = Path(path).expanduser()
    reader = READERS.get(source.suffix.lower())
    if reader is None:
        raise GPTMagicError(
            f"Cannot load {source.suffix or 'no suffix'!r}: use .json, .md or .ipynb."
        )
    try:
        return reader(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GPTMagicError(f"No such file: {source}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise GPTMagicError(f"{source} is not a conversation gptmagic can load: {exc}") from None
