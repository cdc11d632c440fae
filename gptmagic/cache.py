"""The replay cache: recorded answers, so a shared notebook re-runs with no key and no network.

``GPTMagic.cache`` names a JSON-lines file (one readable record per answer, committed next to
the notebook); ``GPTMagic.cache_mode`` says how it is used: ``record`` serves an answer
recorded earlier and records new ones, ``replay`` never calls the API, ``off`` ignores it.

A request's key is the SHA-256 of the canonical JSON of everything that changes the answer:
the kind of call, the server's host, the model, the messages (or image prompt) and the
parameters. Never the API key or headers, and not ``stream`` (the answer is the same). In
replay mode a request recorded against exactly one other server is served from that record, so
a shared notebook replays with any base URL; record mode matches the server exactly.

Concurrent kernels share the file safely: an append holds an exclusive ``flock`` and is one
``os.write`` on an ``O_APPEND`` descriptor, so lines never interleave; a line left half
written by a crash is skipped by readers, and the next append starts on a fresh line. Each
kernel indexes the file once and afterwards reads only what was appended since (it checks the
file's size and mtime before each lookup), so a long cache costs nothing per cell.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING, Any

from .apikey import known_secrets
from .backends.events import Delta, Event, Finish, Reasoning, Reported
from .errors import GPTMagicError, redact
from .files import user_path
from .render import timestamp
from .settings import CACHE_ENV, MODE_ENV
from .toolloop import readable_rounds
from .usage import Usage

try:
    import fcntl
except ImportError:  # Windows: O_APPEND alone
    fcntl = None

if TYPE_CHECKING:
    from .chat import CellRequest
    from .images import ImageRequest, Picture
    from .session import Secret
    from .settings import CellContext
    from .streaming import AnswerView

NOT_IN_KEY = {"stream", "partial"}  # they change how an answer arrives, not what it is
REPLAY_CHUNKS = 6  # a replayed answer arrives in this many pieces per answer...
REPLAY_SECONDS = 0.2  # ...spread over about this long, so it streams like the original
TAIL = 64  # bytes before the read offset that must be unchanged for an incremental read


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(kind: str, host: str, request: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({"kind": kind, "host": host, **request}).encode()).hexdigest()


def answer_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters that shape the answer; unset ones are left out, so adding a parameter
    to gptmagic later does not invalidate existing recordings."""
    return {k: v for k, v in parameters.items() if v is not None and k not in NOT_IN_KEY}


@dataclass
class Summary:
    """What the index keeps of a record: where it is, and enough to explain a near miss."""

    offset: int
    length: int
    host: str
    model: str
    parameters: dict[str, Any]
    prompt: str
    context: str  # a hash of the messages before the prompt

    @classmethod
    def of(
        cls, kind: str, host: str, request: dict[str, Any], offset: int = 0, length: int = 0
    ) -> Summary:
        messages = request.get("messages") or []
        prompt = request.get("prompt") or (messages[-1]["content"] if messages else "")
        prompt = prompt if isinstance(prompt, str) else canonical(prompt)  # parts: text, hashes
        return cls(
            offset,
            length,
            host,
            request.get("model", ""),
            request.get("parameters", {}),
            f"{kind}:{prompt}",
            hashlib.sha256(canonical(messages[:-1]).encode()).hexdigest(),
        )

    def differences(self, other: Summary) -> list[str]:
        found = []
        if self.host != other.host:
            found.append(f"the server (recorded at {other.host}, now {self.host})")
        if self.model != other.model:
            found.append(f"the model (recorded {other.model}, now {self.model})")
        if self.parameters != other.parameters:
            found.append(f"the parameters (recorded {other.parameters}, now {self.parameters})")
        if self.context != other.context:
            found.append("the conversation before it (an earlier prompt or answer differs)")
        return found


def readable(record: Any) -> bool:
    """Whether ``record`` has every field a replay reads, each of the type it is read as.

    A hand-edited or foreign line must never fail a cell: a line that is not readable is
    skipped (and named in a warning), like a crashed writer's half line.
    """
    if not isinstance(record, dict) or not all(
        isinstance(record.get(k), str) for k in ("key", "host", "created")
    ):
        return False
    request, answer = record.get("request"), record.get("answer")
    if not (
        isinstance(request, dict)
        and isinstance(answer, dict)
        and isinstance(request.get("model", ""), str)
        and isinstance(request.get("parameters", {}), dict)
        and isinstance(answer.get("usage") or {}, dict)
    ):
        return False
    if record["kind"] == "chat":
        messages, texts = request.get("messages"), answer.get("texts")
        reasons = answer.get("finish_reasons")
        return (
            _filled_list(messages, dict)
            and all(
                isinstance(m.get("content"), str) or _filled_list(m.get("content"), dict)
                for m in messages
            )
            and _filled_list(texts, str)
            and _filled_list(reasons, str)
            and len(reasons) == len(texts)
            and isinstance(answer.get("model") or "", str)
            and isinstance(answer.get("reasoning", ""), str)
            and readable_rounds(answer.get("tool_rounds", []))
        )
    if record["kind"] == "image":
        images = answer.get("images")
        return (
            isinstance(request.get("prompt"), str)
            and _filled_list(images, dict)
            and all(isinstance(i.get("b64"), str) for i in images)
            and all(isinstance(i.get("revised_prompt") or "", str) for i in images)
        )
    return False


def _filled_list(value: Any, kind: type) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, kind) for v in value)


class CacheFile:
    """One JSON-lines cache file, indexed by key; re-read only where it grew."""

    def __init__(self, path: Path):
        self.path = path
        self.index: dict[str, Summary] = {}
        self.parsed_lines = 0  # lines parsed so far (an index must not re-read the file)
        self.skipped_lines = 0  # unreadable lines (a crashed writer's half line, a bad edit)
        self.bad_lines: list[int] = []  # their line numbers in the file as indexed now
        self._warned = 0  # how many of bad_lines a warning has named
        self._line = 0  # lines indexed so far
        self._offset = 0
        self._stamp: tuple[int, int, int] | None = None
        self._tail = b""

    # -- reading --------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        """The record stored under ``key``, or None."""
        self.refresh()
        summary = self.index.get(key)
        if summary is None:
            return None
        with open(self.path, "rb") as f:
            f.seek(summary.offset)
            line = f.read(summary.length)
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # replaced since it was indexed: index afresh
            record = None
        if not readable(record) or record["key"] != key:
            self._forget()
            return None
        return record

    def refresh(self) -> None:
        """Index what was appended since the last look (everything, if the file was replaced)."""
        try:
            stat = os.stat(self.path)
            if not S_ISREG(stat.st_mode):  # a folder, or a device that never ends
                kind = "it is a folder" if S_ISDIR(stat.st_mode) else "it is not a regular file"
                raise OSError(0, kind)
            stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if stamp == self._stamp:
                return
            with open(self.path, "rb") as f:
                if not self._continues(f, stat):
                    self._forget()
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            self._forget()
            return
        except OSError as exc:
            raise GPTMagicError(
                f"Cannot read the replay cache {self.path}: {exc.strerror or exc}. Set "
                "GPTMagic.cache to a .jsonl file (or '' for none)."
            ) from None
        end = data.rfind(b"\n") + 1  # whole lines only: a line being written waits
        start = 0
        while start < end:
            stop = data.index(b"\n", start) + 1
            self._add(data[start:stop], self._offset + start)
            start = stop
        self._offset += end
        self._tail = (self._tail + data[:end])[-TAIL:]
        self._stamp = stamp

    def _continues(self, f: Any, stat: os.stat_result) -> bool:
        """Whether the file is the one indexed so far, only longer."""
        if self._stamp is None or stat.st_ino != self._stamp[0] or stat.st_size < self._offset:
            return False
        f.seek(self._offset - len(self._tail))
        return f.read(len(self._tail)) == self._tail

    def _forget(self) -> None:
        self.index.clear()
        self.bad_lines.clear()
        self._offset, self._stamp, self._tail, self._line, self._warned = 0, None, b"", 0, 0

    def _add(self, line: bytes, offset: int) -> None:
        self._line += 1
        if not line.strip():
            return
        self.parsed_lines += 1
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not readable(record):
            self.skipped_lines += 1
            self.bad_lines.append(self._line)
            return
        summary = Summary.of(record["kind"], record["host"], record["request"])
        summary.offset, summary.length = offset, len(line)
        self.index[record["key"]] = summary

    def warning(self) -> str | None:
        """One line naming the unreadable lines found since the last warning (None: none)."""
        new = self.bad_lines[self._warned :]
        if not new:
            return None
        self._warned = len(self.bad_lines)
        numbers = ", ".join(map(str, new[:10])) + (", …" if len(new) > 10 else "")
        return (
            f"gptmagic: skipped {len(new)} unreadable line(s) of the replay cache {self.path} "
            f"(line {numbers}): not a recording gptmagic can replay. The others are used."
        )

    # -- writing --------------------------------------------------------------------------
    def append(self, line: str) -> None:
        """Append one line atomically with respect to other kernels appending too."""
        data = line.encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":  # a crashed writer's half line: start afresh
                    data = b"\n" + data
            written = os.write(fd, data)
            while written < len(data):  # only on a full disk or a signal
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)  # also releases the lock

    def on_other_hosts(self, kind: str, host: str, request: dict[str, Any]) -> dict[str, str]:
        """Keys of recordings of exactly this request made against other servers, by host."""
        self.refresh()
        hosts = sorted({s.host for s in self.index.values()} - {host})
        keys = {h: request_key(kind, h, request) for h in hosts}
        return {h: key for h, key in keys.items() if key in self.index}

    def near_misses(self, wanted: Summary) -> list[str]:
        """What differs from the closest recording of the same prompt (empty: none found)."""
        options = [wanted.differences(s) for s in self.index.values() if s.prompt == wanted.prompt]
        return min(options, key=len, default=[])


_FILES: dict[str, CacheFile] = {}  # per kernel process: each file is indexed once


def cache_file(path: str) -> CacheFile:
    try:
        resolved = str(user_path(path).resolve())
    except ValueError as exc:
        raise GPTMagicError(f"GPTMagic.cache = {path!r} cannot be used: {exc}.") from None
    if resolved not in _FILES:
        _FILES[resolved] = CacheFile(Path(resolved))
    return _FILES[resolved]


@dataclass
class Lookup:
    """One request's place in the cache: a recorded answer (a hit), or where to record one."""

    file: CacheFile | None = None
    mode: str = "off"
    kind: str = ""
    key: str = ""
    host: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    secrets: list[Secret] = field(default_factory=list, repr=False)  # masked out of records
    record: dict[str, Any] | None = None
    recorded_host: str = ""  # replay of a recording made against another server

    @property
    def hit(self) -> bool:
        return self.record is not None

    @property
    def answer(self) -> dict[str, Any]:
        return self.record["answer"] if self.record else {}

    def note(self) -> str:
        """The small note a replayed answer shows (on a hit)."""
        meta = self.provenance()
        against = f" against {self.recorded_host}" if self.recorded_host else ""
        return (
            f"↻ Replayed from {meta['cache']} (recorded {meta['recorded']}{against}); "
            "nothing was sent."
        )

    def provenance(self) -> dict[str, Any]:
        """Extra output metadata: whether the answer was replayed, and from where."""
        if not self.hit:
            return {}
        where = {"recorded_host": self.recorded_host} if self.recorded_host else {}
        return {
            "replayed": True,
            "recorded": self.record["created"],
            "cache": self.file.path.name,
            **where,
        }

    def store(self, answer: dict[str, Any]) -> None:
        """Record a complete answer (record mode, on a miss); secrets are masked out."""
        if self.file is None or self.mode != "record" or self.hit:
            return
        record = {
            "key": self.key,
            "kind": self.kind,
            "created": timestamp(),
            "host": self.host,
            "request": self.request,
            "answer": answer,
        }
        try:
            self.file.append(
                redact(json.dumps(record, ensure_ascii=False), self.secrets, urls=False)
            )
        except OSError as exc:
            raise GPTMagicError(
                f"The answer is shown but could not be recorded in {self.file.path}: "
                f"{exc.strerror or exc}. Check GPTMagic.cache."
            ) from None

    def pictures(self) -> list[tuple[str, str | None]]:
        """An image hit's images: base64 bytes and revised prompt, in order."""
        return [(i["b64"], i.get("revised_prompt")) for i in self.answer.get("images", [])]

    def usage(self) -> Usage | None:
        return Usage.from_api(self.answer.get("usage"))

    def replay(self, view: AnswerView, notes: list[str]) -> Iterator[Event] | None:
        """A chat hit's events, streamed like the original (None on a miss)."""
        if not self.hit:
            return None
        notes.append(self.note())
        view.status(f"Replaying the answer recorded in {self.file.path.name}…")
        return chat_events(self.answer)


def unused(ctx: CellContext) -> bool:
    """No cache for this cell: ``off``, or ``record`` with no file named."""
    mode, path = ctx.settings.cache_mode, ctx.settings.cache
    return mode == "off" or (not path and mode == "record")


def lookup(ctx: CellContext, kind: str, host: str, request: dict[str, Any], label: str) -> Lookup:
    """Find ``request`` in the kernel's cache, following ``GPTMagic.cache_mode``.

    In replay mode a recording of the same request made against one other server is used
    (a notebook recorded against one server, replayed with another base URL); otherwise a
    miss is an error naming the cell (``label``) and the file, with what differs from a
    recording of the same prompt when there is one. Record mode matches the server exactly.
    """
    mode, path = ctx.settings.cache_mode, ctx.settings.cache
    if unused(ctx):
        return Lookup()
    first = label.strip().splitlines()[0] if label.strip() else ""
    cell = first if len(first) <= 70 else first[:69] + "…"
    if not path:
        raise GPTMagicError(
            f"GPTMagic.cache_mode is 'replay' but no cache file is set, so the cell {cell!r} "
            f"cannot be answered. Set GPTMagic.cache (or {CACHE_ENV}) to the recorded file."
        )
    file = cache_file(path)
    key = request_key(kind, host, request)
    found = Lookup(file, mode, kind, key, host, request, known_secrets(ctx.session))
    found.record = file.get(key)
    if warning := file.warning():
        print(warning, file=sys.stderr)
    if found.hit or mode == "record":
        return found
    if not file.path.exists():
        raise GPTMagicError(
            f"No recorded answer for the cell {cell!r}: the cache file {file.path} does not "
            "exist (GPTMagic.cache_mode 'replay' never calls the API)."
        )
    elsewhere = file.on_other_hosts(kind, host, request)
    if len(elsewhere) == 1:  # the same notebook, replayed with another base URL
        [(other_host, other_key)] = elsewhere.items()
        found.record = file.get(other_key)
        if found.hit:
            found.recorded_host = other_host
            return found
    if len(elsewhere) > 1:
        raise GPTMagicError(
            f"No recorded answer for the cell {cell!r} from {host} in {file.path}, and it was "
            f"recorded against {len(elsewhere)} other servers ({', '.join(elsewhere)}): set "
            "GPTMagic.base_url to the one to replay."
        )
    differs = file.near_misses(Summary.of(kind, host, request))
    why = f"; a recording of this prompt differs in {' and '.join(differs)}" if differs else ""
    raise GPTMagicError(
        f"No recorded answer for the cell {cell!r} in {file.path}{why}. GPTMagic.cache_mode "
        f"'replay' never calls the API: record it with {MODE_ENV}=record (and a key)."
    )


def for_chat(
    ctx: CellContext,
    host: str,
    request: CellRequest,
    messages: list[dict[str, Any]],
    api: str = "chat",
) -> Lookup:
    """The cache lookup of one ``%%gpt`` request: the conversation's messages as sent, in the
    neutral form every backend starts from, so the key never depends on a body's shape. The
    API is part of the key only when it is not Chat Completions (recordings made before there
    was a choice stay valid). An image is keyed and kept by its hash (content.hashed_images):
    the file never holds image bytes, and a text-only request's key is what it always was."""
    if unused(ctx):  # no key to make: hashing a PNG's pixels would import Pillow for nothing
        return Lookup()
    from .content import hashed_images, text_of

    summary = {
        "model": request.model,
        "messages": hashed_images(messages),
        "parameters": answer_parameters(request.parameters()),
    }
    if api != "chat":
        summary["api"] = api
    return lookup(ctx, "chat", host, summary, text_of(request.prompt))


def chat_answer(
    texts: list[str],
    reasons: list[str | None],
    usage: Usage | None,
    model: str | None,
    rounds: list[dict[str, Any]] | None = None,
    reasoning: str = "",
) -> dict[str, Any]:
    """What a chat record keeps of a complete answer; with ``--tools`` also the tool rounds
    before it (calls and results), so a replay shows them without running anything; from a
    reasoning model also its reasoning summary, so a replay shows the same 💭 note."""
    answer = {
        "texts": texts,
        "finish_reasons": reasons,
        "usage": usage.to_dict() if usage else None,
        "model": model,
    }
    answer |= {"reasoning": reasoning} if reasoning else {}  # absent: stored shapes stay
    return answer | ({"tool_rounds": rounds} if rounds else {})


def chat_events(answer: dict[str, Any]) -> Iterator[Event]:
    """A recorded chat answer as the events a stream would give, in a few quick pieces."""
    texts = answer["texts"]
    pause = REPLAY_SECONDS / (REPLAY_CHUNKS * max(len(texts), 1))
    if answer.get("reasoning"):  # a reasoning model's summary comes before its answer
        yield Reasoning(0, answer["reasoning"])
    for index, text in enumerate(texts):
        step = -(-len(text) // REPLAY_CHUNKS)
        for start in range(0, len(text), step or 1):
            yield Delta(index, text[start : start + step])
            time.sleep(pause)
    for index, reason in enumerate(answer["finish_reasons"]):
        if reason:
            yield Finish(index, reason)
    if answer.get("usage"):
        yield Reported(Usage.from_api(answer["usage"]), answer.get("model"))


def for_image(ctx: CellContext, host: str, request: ImageRequest) -> Lookup:
    """The cache lookup of one ``%gptimage`` request."""
    summary = {
        "model": request.model,
        "prompt": request.prompt,
        "parameters": answer_parameters(request.parameters()),
    }
    return lookup(ctx, "image", host, summary, request.prompt)


def image_answer(pictures: list[Picture], usage: Usage | None) -> dict[str, Any]:
    """What an image record keeps: each image's bytes (base64) and revised prompt."""
    return {
        "images": [
            {
                "b64": base64.b64encode(p.data).decode(),
                "mime": p.mime,
                "revised_prompt": p.revised_prompt,
            }
            for p in pictures
        ],
        "usage": usage.to_dict() if usage else None,
    }
