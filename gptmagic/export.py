"""Saving and loading the conversation: JSON (lossless), Markdown and notebooks.

JSON keeps everything, metadata included, and a turn's tool steps (the assistant's
tool calls and the results). Markdown and ``.ipynb`` are for reading and sharing; they carry
each message's role in a marker (an HTML comment, or cell metadata) so they load back without
guessing from headings. There a turn's tool calls are one line each (their summaries), in a
block of their own that loading skips: those files load back as the questions and answers.

Images in prompts: ``.json`` keeps the parts, base64 included; ``.ipynb`` keeps each image
whole as a cell attachment (``![…](attachment:image-1.png)``, drawn by JupyterLab, GitHub and
nbconvert) and loads it back as an image; ``.md`` shows a small thumbnail (an ``<img>`` whose
alt text is the placeholder) and loads back as the placeholder text only.
"""

from __future__ import annotations

import base64
import html
import json
import re
import reprlib
from pathlib import Path
from typing import Any

from .content import checked_content, is_parts, map_text, picture_of, text_of
from .content import pieces as content_pieces
from .conversation import Conversation, Message, Turn
from .errors import GPTMagicError
from .files import running_notebook, user_path, without_lone_surrogates, write_atomic
from .pictures import Picture, placeholder, text_and_images, thumbnail_markdown
from .render import call_line, provenance_line

FORMAT = "gptmagic.conversation"
VERSION = 1
ROLE_TITLES = {"system": "System", "user": "User", "assistant": "Assistant", "tools": "Tools"}
MARKER = re.compile(r"^<!-- gptmagic:(system|user|assistant|tools)(?: (\{.*\}))? -->$", re.M)
TOOLS = "tools"  # the readable block of a turn's tool calls in .md and .ipynb
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
    data = {
        "role": m.role,
        "content": m.content,
        "tokens": m.tokens,
        "tokens_exact": m.tokens_exact,
        "meta": m.meta,
    }
    if m.tool_calls:
        data["tool_calls"] = m.tool_calls
    if m.tool_call_id is not None:
        data["tool_call_id"] = m.tool_call_id
    return data


def turn_dict(t: Turn) -> dict[str, Any]:
    steps = {"steps": [message_dict(m) for m in t.steps]} if t.steps else {}
    return {"user": message_dict(t.user), **steps, "assistant": message_dict(t.assistant)}


def to_json(conv: Conversation) -> str:
    data = {
        "format": FORMAT,
        "version": VERSION,
        "system": conv.system,
        "turns": [turn_dict(t) for t in conv.turns],
    }
    return json.dumps(data, indent=1, ensure_ascii=False)


def from_json(text: str) -> Conversation:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a gptmagic conversation file")
    if data.get("version", VERSION) != VERSION:
        found = reprlib.repr(data.get("version"))
        raise ValueError(f"version {found} (this gptmagic reads {VERSION})")
    system, turns = data.get("system", ""), data.get("turns", [])
    if not isinstance(system, str) or not isinstance(turns, list):
        raise ValueError("'system' must be text and 'turns' a list")
    messages = [Message("system", system)] if system else []
    for number, turn in enumerate(turns, 1):
        if not isinstance(turn, dict):
            raise ValueError(f"turn {number} is not an object")
        steps = turn.get("steps", [])
        if not isinstance(steps, list):
            raise ValueError(f"turn {number}: 'steps' must be a list")
        messages.append(message_from(turn.get("user"), f"turn {number} user", "user"))
        for place, step in enumerate(steps, 1):
            messages.append(message_from(step, f"turn {number} step {place}"))
        where = f"turn {number} assistant"
        messages.append(message_from(turn.get("assistant"), where, "assistant"))
        if messages[-1].tool_calls:
            raise ValueError(f"{where}: the answer cannot call tools")
    return from_messages(messages)


def message_from(data: Any, where: str, role: str | None = None) -> Message:
    """A message read from a file, with every field the kernel uses checked (ValueError)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: not an object")
    if role is not None and data.get("role") != role:
        raise ValueError(f"{where}: role must be {role!r}, not {reprlib.repr(data.get('role'))}")
    content = data.get("content")
    if not isinstance(content, str) and data.get("role") != "user":
        raise ValueError(f"{where}: 'content' must be text")
    content = checked_content(content, where)  # a user's may be parts: text and images
    tokens, exact = data.get("tokens", 0), data.get("tokens_exact", False)
    if not is_count(tokens):
        raise ValueError(f"{where}: 'tokens' must be a count >= 0, not {reprlib.repr(tokens)}")
    if not isinstance(exact, bool):
        raise ValueError(f"{where}: 'tokens_exact' must be a boolean, not {reprlib.repr(exact)}")
    meta = checked_meta(data.get("meta"), f"{where}: ")
    calls, answers = data.get("tool_calls"), data.get("tool_call_id")
    if calls is not None and not (
        data["role"] == "assistant"
        and isinstance(calls, list)
        and calls
        and all(isinstance(c, dict) and all(isinstance(c.get(k), str) for k in CALL) for c in calls)
    ):
        raise ValueError(f"{where}: 'tool_calls' must be an assistant's list of {CALL} texts")
    if (data["role"] == "tool") != isinstance(answers, str):
        raise ValueError(f"{where}: a 'tool' message (and only one) has a 'tool_call_id' text")
    calls = [{k: c[k] for k in CALL} for c in calls] if calls else None
    return Message(data["role"], content, tokens, exact, meta, calls, answers)


CALL = ("id", "name", "arguments")


def checked_meta(meta: Any, where: str = "") -> dict[str, Any]:
    """An answer's metadata as the history and exports read it (provenance_line)."""
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise ValueError(f"{where}'meta' must be an object")
    usage, parameters = meta.get("usage"), meta.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise ValueError(f"{where}'meta.parameters' must be an object")
    if usage is not None and not (isinstance(usage, dict) and is_count(usage.get("total_tokens"))):
        raise ValueError(f"{where}'meta.usage' must hold a 'total_tokens' count")
    return meta


def is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


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


def tool_lines(steps: list[Message]) -> str:
    """A turn's tool calls, one line each (the summary the cell showed), after what the model
    said beside them: the cell's order."""
    blocks = []
    for m in steps:
        if m.role == "tool":
            summary = m.meta.get("summary")
            blocks.append(call_line(summary) if summary else f"> {m.content}")
        elif said := text_of(m.content).strip():
            blocks.append(said)
    return "\n\n".join(blocks)


def readable(conv: Conversation) -> list[Message]:
    """The messages as .md and .ipynb show them: a turn's steps as one ``tools`` message."""
    shown = [Message("system", conv.system)] if conv.system else []
    for t in conv.turns:
        steps = [Message(TOOLS, tool_lines(t.steps))] if t.steps else []
        shown += [t.user, *steps, t.assistant]
    return shown


def markdown_pieces(conv: Conversation, *, inert: bool = False) -> list[str | Picture]:
    """The Markdown export as text and pictures in order (``%gpt history`` shows each picture
    as an image output; :func:`to_markdown` as a thumbnail ``<img>``). With ``inert`` (shown
    in a notebook), raw HTML in the messages is made text (see ``render.inert_html``)."""
    from .render import inert_html

    out: list[str | Picture] = []
    for number, m in enumerate(readable(conv)):
        meta = {k: m.meta[k] for k in PROVENANCE if k in m.meta}
        tag = f" {json.dumps(meta, ensure_ascii=False)}" if meta else ""
        line = provenance_line(m.meta)
        out.append(
            ("\n\n" if number else "")
            + f"<!-- gptmagic:{m.role}{tag} -->\n### {ROLE_TITLES[m.role]}\n\n"
            + (f"{line}\n\n" if line else "")
        )
        pieces = content_pieces(m.content)
        out += [inert_html(p) if inert and isinstance(p, str) else p for p in pieces]
    out.append("\n")
    return out


def to_markdown(conv: Conversation) -> str:
    return "".join(
        p if isinstance(p, str) else thumbnail_markdown(p) for p in markdown_pieces(conv)
    )


# A thumbnail to_markdown wrote: loaded back as its alt text, the image's placeholder.
THUMBNAIL = re.compile(
    r'<img src="data:image/[a-z]+;base64,[A-Za-z0-9+/=]*" width="\d+" alt="([^"]*)">'
)


def from_markdown(text: str) -> Conversation:
    marks = list(MARKER.finditer(text))
    if not marks:
        raise ValueError("no gptmagic role markers found")
    messages = []
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        if mark.group(1) == TOOLS:  # summaries for reading; the calls are in .json only
            continue
        chunk = text[mark.end() : following.start() if following else len(text)]
        content = re.sub(r"^\s*### \w+\s*\n", "", chunk, count=1).strip()
        meta = checked_meta(json.loads(mark.group(2)) if mark.group(2) else {}, "a marker's ")
        content = THUMBNAIL.sub(lambda m: html.unescape(m[1]), unshown(content, meta))
        messages.append(Message(mark.group(1), content, meta=meta))
    return from_messages(messages)


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def to_notebook(conv: Conversation) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    # Named, so JupyterLab opens it at once instead of asking for a kernel over the first cell
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for m in readable(conv):
        text, attachments = with_attachments(m)
        cell = nbformat.v4.new_markdown_cell(f"**{ROLE_TITLES[m.role]}**\n\n{text}")
        if attachments:
            cell.attachments = attachments
        cell.metadata["gptmagic"] = {"role": m.role, "meta": m.meta}
        nb.cells.append(cell)
    return nbformat.writes(nb)


ATTACHMENT = re.compile(r"!\[[^\]\n]*\]\(attachment:(image-\d+\.(?:png|jpeg))\)")


def with_attachments(m: Message) -> tuple[str, dict[str, Any]]:
    """The message as a cell's Markdown, each image an attachment it links to."""
    if not is_parts(m.content):
        return shown(m), {}
    text, attachments = [], {}
    for piece in content_pieces(m.content):
        if isinstance(piece, str):
            text.append(piece)
            continue
        name = f"image-{len(attachments) + 1}.{piece.mime.removeprefix('image/')}"
        attachments[name] = {piece.mime: base64.b64encode(piece.data).decode("ascii")}
        text.append(f"![{placeholder(piece)[1:-1]}](attachment:{name})")
    return "".join(text), attachments


def from_attachments(text: str, attachments: Any) -> Any:
    """A cell's text with each link to one of its image attachments as an image part."""
    if not isinstance(attachments, dict) or not ATTACHMENT.search(text):
        return text
    pieces: list[Any] = []
    pos = 0
    for link in ATTACHMENT.finditer(text):
        bundle = attachments.get(link[1])
        bundle = bundle if isinstance(bundle, dict) else None
        mime, data = next(iter(bundle.items()), ("", None)) if bundle else ("", None)
        url = f"data:{mime};base64,{data}" if isinstance(data, str) else ""
        picture = picture_of({"type": "image_url", "image_url": {"url": url}})
        if picture is None:
            raise ValueError(f"the attachment {link[1]} is not a PNG or JPEG image")
        pieces += [text[pos : link.start()], picture]
        pos = link.end()
    pieces.append(text[pos:])
    return text_and_images(pieces)


def from_notebook(text: str) -> Conversation:
    import nbformat

    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat's readers fail in many ways on a foreign file
        raise ValueError(f"not a notebook nbformat can read ({type(exc).__name__})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("the notebook's 'cells' is not a list")
    messages = []
    for number, cell in enumerate(cells, 1):
        metadata = cell.get("metadata") if isinstance(cell, dict) else None
        info = metadata.get("gptmagic") if isinstance(metadata, dict) else None
        if not info or (isinstance(info, dict) and info.get("role") == TOOLS):
            continue
        source = cell.get("source")
        source = "".join(source) if isinstance(source, list) else source
        if not isinstance(info, dict) or info.get("role") not in ROLE_TITLES:
            raise ValueError(f"cell {number}: its gptmagic metadata has no known role")
        if not isinstance(source, str):
            raise ValueError(f"cell {number}: its source is not text")
        title = f"**{ROLE_TITLES[info['role']]}**\n\n"
        content = source.removeprefix(title)
        meta = checked_meta(info.get("meta"), f"cell {number}: ")
        content = unshown(content, meta)
        if info["role"] == "user":  # its images, from the cell's attachments
            content = from_attachments(content, cell.get("attachments"))
        messages.append(Message(info["role"], content, meta=meta))
    return from_messages(messages)


def from_messages(messages: list[Message]) -> Conversation:
    """The conversation of ``messages``: an optional system prompt, then turns: a user
    message, its tool steps (an assistant message with tool calls, then one tool message per
    call), and the answer.

    Text no file should hold (unpaired surrogates, half an emoji) is replaced by U+FFFD, so a
    loaded conversation can always be sent, shown and saved again.
    """
    for m in messages:
        m.content = map_text(m.content, without_lone_surrogates)
        m.meta = json.loads(without_lone_surrogates(json.dumps(m.meta, ensure_ascii=False)))
    conv = Conversation()
    if messages and messages[0].role == "system":
        conv.system = messages.pop(0).content
    turn: list[Message] = []
    for m in messages:
        turn.append(m)
        if m.role == "assistant" and not m.tool_calls:
            conv.turns.append(checked_turn(turn))
            turn = []
    if turn:
        raise ValueError("messages must alternate user/assistant after the system prompt")
    return conv


def checked_turn(messages: list[Message]) -> Turn:
    """A user message, tool steps whose results answer the calls before them, the answer."""
    user, *steps, answer = messages
    if user.role != "user" or any(m.role not in ("assistant", "tool") for m in steps):
        raise ValueError("messages must alternate user/assistant after the system prompt")
    waiting: set[str] = set()
    for m in steps:
        if m.role == "assistant":
            if waiting:
                raise ValueError(f"tool call(s) {sorted(waiting)} have no result")
            waiting = {c["id"] for c in m.tool_calls or ()}
        elif m.tool_call_id not in waiting:
            raise ValueError(f"a tool result answers no call before it ({m.tool_call_id!r})")
        else:
            waiting.discard(m.tool_call_id)
    if waiting:
        raise ValueError(f"tool call(s) {sorted(waiting)} have no result")
    return Turn(user, answer, steps)


WRITERS = {".json": to_json, ".md": to_markdown, ".ipynb": to_notebook}
READERS = {".json": from_json, ".md": from_markdown, ".ipynb": from_notebook}


def named(path: str) -> Path:
    try:
        return user_path(path)
    except ValueError as exc:
        raise GPTMagicError(f"Cannot use the path {path!r}: {exc}.") from None


def is_running_notebook(target: Path) -> bool:
    """Whether ``target`` is the notebook this kernel runs for: Jupyter names it (absolute)
    in JPY_SESSION_NAME; through a symlink too, which a save would follow."""
    running = running_notebook()
    if running is None:
        return False
    try:
        return target.resolve() == running.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an unreadable path
        return False


def save(conv: Conversation, path: str) -> Path:
    """Write the conversation whole (files.write_atomic): a failure leaves the old file."""
    target = named(path)
    writer = WRITERS.get(target.suffix.lower())
    if writer is None:
        raise GPTMagicError(
            f"Cannot save as {target.suffix or 'no suffix'!r}: use .json, .md or .ipynb."
        )
    if is_running_notebook(target):
        raise GPTMagicError(
            f"Cannot save to {target}: it is this kernel's own notebook, which would be "
            "replaced by the conversation; save it under another name."
        )
    data = without_lone_surrogates(writer(conv)).encode("utf-8")
    try:
        write_atomic(target, data)
    except FileNotFoundError as exc:
        if not target.parent.is_dir():
            raise GPTMagicError(
                f"Cannot save to {target}: the folder {target.parent} does not exist."
            ) from None
        # the folder is there but takes no new file (/proc answers ENOENT to a create)
        raise GPTMagicError(
            f"Cannot save to {target}: the folder {target.parent} does not take new files "
            f"({exc.strerror or exc})."
        ) from None
    except OSError as exc:
        raise GPTMagicError(f"Cannot save to {target}: {exc.strerror or exc}.") from None
    return target


#: the largest file %gpt load reads: about nine pictures at the 5 MB cap a prompt image has
#: (as base64 in .json), or hundreds of ordinary figures, and far more text than a context
#: window; a bigger file is refused before it is read, so it never fills the kernel's memory
LOAD_MAX_BYTES = 64 * 1024 * 1024


def read_capped(source: Path) -> bytes:
    """The bytes of ``source``, a regular file of at most ``LOAD_MAX_BYTES``; else one line.

    Opened without blocking, so a named pipe (FIFO) with no writer is refused at once
    instead of hanging the kernel; a device (``/dev/zero``) or pipe is refused before any
    read, a file too big by its size, and one that grows while read by what arrives.
    """
    import os
    import stat

    fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GPTMagicError(f"{source} is not a regular file (a pipe or a device): not loaded.")
        if info.st_size > LOAD_MAX_BYTES:
            raise GPTMagicError(too_big(source, info.st_size))
        data = f.read(LOAD_MAX_BYTES + 1)
    if len(data) > LOAD_MAX_BYTES:
        raise GPTMagicError(too_big(source, len(data)))
    return data


def too_big(source: Path, size: int) -> str:
    return (
        f"{source} is {size / 2**20:,.1f} MB, more than the {LOAD_MAX_BYTES // 2**20} MB a "
        "conversation file may have: not loaded."
    )


def load(path: str) -> Conversation:
    """The conversation saved in ``path``, checked whole (the kernel's is replaced only after)."""
    source = named(path)
    if source.is_dir():
        raise GPTMagicError(f"{source} is a folder: name a .json, .md or .ipynb file in it.")
    reader = READERS.get(source.suffix.lower())
    if reader is None:
        raise GPTMagicError(
            f"Cannot load {source.suffix or 'no suffix'!r}: use .json, .md or .ipynb."
        )
    try:
        text = read_capped(source).decode("utf-8")
    except FileNotFoundError:
        raise GPTMagicError(f"No such file: {source}") from None
    except UnicodeDecodeError:
        raise GPTMagicError(f"{source} is not UTF-8 text, so not a conversation.") from None
    except OSError as exc:
        raise GPTMagicError(f"Cannot read {source}: {exc.strerror or exc}.") from None
    try:
        return reader(text)
    except RecursionError:
        raise GPTMagicError(f"{source} is nested too deeply to be a conversation.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise GPTMagicError(f"{source} is not a conversation gptmagic can load: {exc}") from None
