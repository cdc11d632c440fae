"""``%gptimage`` / ``%%gptimage``: generate images, show them inline, keep them in the notebook.

The steps mirror chat.py: validate everything first (bad options or an empty prompt send
nothing), call ``images.generate`` with gptmagic's retries while a progress line counts the
seconds, then record the usage, save the files, show each image with a caption and store the
variable. Images are shown as ``image/png`` (or whatever format the bytes are), so a saved
notebook keeps them and renders them on GitHub and through nbconvert without a kernel.
"""

from __future__ import annotations

import base64
import binascii
import html
import inspect
import itertools
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import cache, files
from .apikey import known_secrets
from .client import host_port, parsed, sdk_for
from .errors import GPTMagicError, InterruptedAnswer, error_field, redact, server_message
from .progress import Output, Progress, in_notebook
from .render import provenance
from .retrying import call_with_retries
from .transport import transport_errors
from .usage import Usage, UsageRecord

if TYPE_CHECKING:
    from .settings import CellContext

# Error codes OpenAI uses when its safety system refuses a prompt (dall-e / GPT image models).
CONTENT_POLICY_CODES = {"content_policy_violation", "moderation_blocked"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".svg"}
# The only formats shown: raster images, recognised by their first bytes (never by a header or
# a suffix). SVG is refused: it is XML that can carry <script>, and frontends render it inline.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
)
RASTER = "PNG, JPEG, WebP or GIF"


# -- reading the magic's line --------------------------------------------------------------
def split_line(line: str) -> tuple[list[str], str]:
    """The options of a ``%gptimage`` line, and the prompt: the rest of the line as typed.

    Only the options are shell-split, so the prompt may hold apostrophes and quotes
    (``a fox's den``). This relies on every image option taking a value (``-n 2``, ``-n2``,
    ``--size=WxH``); ``--`` ends the options.
    """
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split, lexer.commenters = True, ""
    options: list[str] = []
    wants_value = False
    while True:
        start = lexer.instream.tell()
        try:
            token = lexer.get_token()
        except ValueError as exc:  # an unbalanced quote
            if wants_value:
                raise GPTMagicError(f"Cannot read the options: {exc} ({line.strip()!r}).") from None
            return options, unquote(line[start:])
        if token is None:
            return options, ""
        if wants_value:
            options.append(token)
            wants_value = False
        elif token == "--":
            return options, unquote(line[lexer.instream.tell() :])
        elif token.startswith("-") and len(token) > 1 and not token[1].isdigit():
            options.append(token)
            wants_value = "=" not in token and (token.startswith("--") or len(token) == 2)
        else:
            return options, unquote(line[start:])


def unquote(prompt: str) -> str:
    """A prompt written as one quoted string loses its quotes; anything else stays as typed."""
    prompt = prompt.strip()
    if prompt[:1] in "'\"" and prompt[-1:] == prompt[:1]:
        try:
            words = shlex.split(prompt)
        except ValueError:
            return prompt
        if len(words) == 1:
            return words[0]
    return prompt


# -- the request ---------------------------------------------------------------------------
@dataclass
class ImageRequest:
    """What one ``%gptimage`` asks for, after its options were laid over the kernel's settings."""

    prompt: str
    model: str
    size: str
    n: int
    quality: str | None = None
    partial: int | None = None
    save: str | None = None
    out: str | None = None

    @classmethod
    def from_args(cls, settings: Any, args: Any, prompt: str) -> ImageRequest:
        prompt = files.without_lone_surrogates(prompt.strip())  # half an emoji: unsendable
        if not prompt:
            raise GPTMagicError(
                "The prompt is empty: write it after %gptimage, or in the cell below %%gptimage."
            )
        if args.partial and args.n > 1:
            raise GPTMagicError("--partial shows one image while it is drawn: use it with -n 1.")
        if args.save and args.n > 1 and Path(args.save).suffix.lower() in IMAGE_SUFFIXES:
            raise GPTMagicError(
                f"--save {args.save} names one file, but -n {args.n} makes several images: "
                f"give a folder instead, e.g. --save {Path(args.save).stem}/"
            )
        return cls(
            prompt=prompt,
            model=settings.image_model if args.model is None else args.model,
            size=settings.image_size if args.size is None else args.size,
            n=args.n,
            quality=args.quality,
            partial=args.partial,
            save=args.save,
            out=args.out,
        )

    def body(self) -> dict[str, Any]:
        """The ``images.generate`` arguments: only what was asked for (no response_format,
        which GPT image models refuse; URL answers are downloaded)."""
        body: dict[str, Any] = {"model": self.model, "prompt": self.prompt, "size": self.size}
        if self.n > 1:
            body["n"] = self.n
        if self.quality is not None:
            body["quality"] = self.quality
        if self.partial:
            body |= {"stream": True, "partial_images": self.partial}
        return body

    def parameters(self) -> dict[str, Any]:
        return {"size": self.size, "n": self.n, "quality": self.quality, "partial": self.partial}


@dataclass
class Picture:
    """One generated image: its bytes, their format, and where it was saved."""

    data: bytes
    mime: str
    suffix: str
    revised_prompt: str | None = None
    path: Path | None = None

    def bundle(self, alt: str) -> dict[str, str]:
        return {self.mime: base64.b64encode(self.data).decode(), "text/plain": alt}


def image_format(data: bytes) -> tuple[str, str] | None:
    """The MIME type and file suffix of a raster image (servers may send JPEG or WebP), from
    the bytes themselves; None for anything else (SVG, HTML, an error page)."""
    for signature, mime, suffix in _SIGNATURES:
        if data.startswith(signature):
            return mime, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def is_svg(data: bytes) -> bool:
    """Only to name what was refused: SVG (an XML text) is never shown."""
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<svg", b"<?xml")) or b"<svg" in head


def human_size(size: int | float) -> str:
    """Three significant digits in the smallest unit that needs no exponent: 999,999 bytes
    is "1 MB", never "1e+03 kB"."""
    for unit, scale in (("bytes", 1), ("kB", 1e3), ("MB", 1e6)):
        text = f"{size / scale:.3g}"
        if "e" not in text:
            return f"{text} {unit}"
    return f"{size / 1e9:.3g} GB"


def link_host(url: str) -> str:
    """The host (and port) of a link, never its user:password@, path or signed query."""
    parts = urlsplit(url)
    return host_port(parts.hostname or "the server", parts.port)


def is_timeout(exc: BaseException) -> bool:
    """Whether the HTTP library gave up waiting (its TimeoutException, whichever httpx)."""
    for name in ("httpx2", "httpx"):
        timeout = getattr(sys.modules.get(name), "TimeoutException", None)
        if timeout is not None and isinstance(exc, timeout):
            return True
    return False


def streams_images(sdk: Any) -> bool:
    """Whether the installed ``openai`` can ask for partial images (newer SDKs only)."""
    return "partial_images" in inspect.signature(sdk.images.generate).parameters


# -- saving --------------------------------------------------------------------------------
def slug(prompt: str) -> str:
    return "-".join(re.findall(r"\w+", prompt.lower()))[:40].strip("-_") or "image"


def saves_to_folder(target: str, n: int) -> bool:
    """``--save`` names a folder for several images, a trailing slash or an existing folder."""
    return n > 1 or target.endswith(("/", os.sep)) or Path(target).expanduser().is_dir()


def write_new(path: Path, data: bytes) -> Path:
    """Write to ``path`` or, when taken, ``stem-1``, ``stem-2``…: never overwrites a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for k in itertools.count():
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}") if k else path
        try:
            files.write_new(candidate, data)  # whole or not at all
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("itertools.count() does not end")


def save_pictures(pictures: list[Picture], target: str, prompt: str, folder: bool) -> None:
    root = Path(target).expanduser()
    for picture in pictures:
        if folder:
            wanted = root / f"{slug(prompt)}{picture.suffix}"
        else:
            wanted = root if root.suffix else root.with_suffix(picture.suffix)
        picture.path = write_new(wanted, picture.data)


# -- one run -------------------------------------------------------------------------------
class ImageCell:
    """Runs one image request in ``ctx``: progress, retries, errors, output, usage, files."""

    def __init__(self, ctx: CellContext, request: ImageRequest):
        self.ctx, self.settings, self.request = ctx, ctx.settings, request
        self.session = ctx.session
        self.endpoint = ctx.endpoint

    def run(self) -> None:
        r, session = self.request, self.session
        if refusal := session.usage.budget_refusal(self.settings.token_budget):
            raise GPTMagicError(refusal)
        self.cached = cache.for_image(self.ctx, self.endpoint.host, r)
        sdk = None if self.cached.hit else sdk_for(session, self.endpoint)  # replay: no key
        if r.partial and sdk is not None and not streams_images(sdk):
            import openai

            raise GPTMagicError(
                f"--partial needs a newer openai package (installed: {openai.__version__}); "
                "upgrade it with pip install -U openai, or leave out --partial."
            )
        images = f"{r.n} image{'s' if r.n > 1 else ''}"
        progress = Progress(
            f"Generating {images} ({r.size}) with {r.model} at {self.endpoint.host}",
            notebook=in_notebook(self.ctx),
        ).start()
        try:
            pictures, usage = self.generate(sdk, progress)
        except KeyboardInterrupt:
            progress.fail(f"Interrupted after {progress.elapsed:.0f} s: no image.")
            raise InterruptedAnswer("Interrupted: no image was generated.") from None
        except Exception:
            progress.fail(f"No image: the request failed after {progress.elapsed:.0f} s.")
            raise
        if usage is not None:
            status = "replayed" if self.cached.hit else "complete"  # a replay is not billed
            session.usage.add(UsageRecord("image", r.model, usage, status=status))
        save_error = self.save(pictures)
        count = f"{len(pictures)} image{'s' if len(pictures) > 1 else ''}"
        summary = f"Generated {count} with {r.model} in {progress.elapsed:.0f} s."
        progress.finish(self.outputs(pictures, usage, progress.elapsed), summary)
        if r.out:
            data = [p.data for p in pictures]
            self.ctx.shell.user_ns[r.out] = data[0] if r.n == 1 else data
        problems = [save_error] if save_error else []
        try:  # after the images are shown, as for chat: a full disk must not hide them
            self.cached.store(cache.image_answer(pictures, usage))
        except GPTMagicError as exc:
            problems.append(str(exc))
        if problems:
            raise GPTMagicError(" ".join(problems))

    # -- asking ----------------------------------------------------------------------------
    def generate(self, sdk: Any, progress: Progress) -> tuple[list[Picture], Usage | None]:
        if self.cached.hit:
            recorded = enumerate(self.cached.pictures(), 1)
            pictures = [self.picture(b64, i, revised) for i, (b64, revised) in recorded]
            return pictures, self.cached.usage()
        r = self.request
        try:
            response = call_with_retries(
                lambda: parsed(sdk.images.with_raw_response.generate(**r.body())),
                max_retries=self.settings.max_retries,
                on_retry=progress.say,
                host=self.endpoint.host,
            )
        except Exception as exc:  # the SDK's errors, and a request refused before sending
            raise GPTMagicError(self.explain(exc, sdk)) from None
        if r.partial:
            return self.read_stream(response, progress)
        return self.read_images(sdk, response, progress)

    def read_stream(self, stream: Any, progress: Progress) -> tuple[list[Picture], Usage | None]:
        """Partial images replace each other under the progress line; the last event wins."""
        pictures: list[Picture] = []
        usage = None
        try:
            for event in stream:
                if event.type == "image_generation.partial_image":
                    label = (
                        f"partial image {event.partial_image_index + 1} of {self.request.partial}"
                    )
                    progress.preview(self.picture(event.b64_json, 1).bundle(label), label)
                elif event.type == "image_generation.completed":
                    pictures.append(self.picture(event.b64_json, len(pictures) + 1))
                    usage = Usage.from_api(getattr(event, "usage", None))
        except transport_errors() as exc:
            raise GPTMagicError(f"The image stream broke: {self.explain(exc)}") from None
        finally:
            stream.close()
        if not pictures:
            raise GPTMagicError(
                f"{self.endpoint.host} sent no image in its stream (it may not support "
                "streaming images): run the cell again without --partial."
            )
        return pictures, usage

    def read_images(
        self, sdk: Any, response: Any, progress: Progress
    ) -> tuple[list[Picture], Usage | None]:
        items = response.data or []
        if not items:
            raise GPTMagicError(f"{self.endpoint.host} answered without an image.")
        pictures = []
        for i, item in enumerate(items, 1):
            source = self.endpoint.host
            if item.b64_json:
                data: str | bytes = item.b64_json
            elif item.url:
                progress.say(f"Downloading image {i} of {len(items)}")
                data, source = self.download(sdk, item.url, i), link_host(item.url)
            else:
                raise GPTMagicError(
                    f"{self.endpoint.host} sent image {i} without data (no b64_json, no url)."
                )
            pictures.append(self.picture(data, i, item.revised_prompt, source))
        return pictures, Usage.from_api(response.usage)

    def download(self, sdk: Any, url: str, number: int) -> bytes:
        """Fetch an image link with the SDK's own HTTP client: the same proxy and timeout, and
        no API key (the SDK adds it per API request, never to the client). The openai SDK has
        no public accessor for that client, hence ``_client``.

        Only absolute http(s) links: that client joins anything else (``file:///etc/passwd``,
        a bare path) to the API's base URL. The body is read as it arrives, so a huge image
        stops at ``image_max_bytes`` and a slow one at ``timeout`` seconds in all, instead of
        filling the kernel's memory or waiting forever on a trickle.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            scheme = f"{parts.scheme.lower()}:" if parts.scheme else "no scheme"
            raise GPTMagicError(
                f"{self.endpoint.host} sent image {number} as a link gptmagic does not download "
                f"({scheme}): only http and https image links are."
            )
        try:
            _ = parts.port  # urlsplit reads the port only when asked: "host:99999", "host:x"
        except ValueError as exc:
            raise GPTMagicError(
                f"{self.endpoint.host} sent image {number} as a link gptmagic cannot read: {exc}."
            ) from None
        source, limit = link_host(url), self.settings.image_max_bytes
        timeout = self.endpoint.timeout
        deadline = time.monotonic() + timeout
        pieces: list[bytes] = []
        received = 0
        try:
            with sdk._client.stream(
                "GET",
                url,
                timeout=timeout,
                follow_redirects=True,
                headers={"Accept-Encoding": "identity"},  # the bytes as sent: no inflating
            ) as response:
                response.raise_for_status()
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise GPTMagicError(
                        f"The image at {source} is {human_size(int(declared))}, over the "
                        f"{human_size(limit)} limit (GPTMagic.image_max_bytes): not downloaded."
                    )
                for piece in response.iter_raw():
                    pieces.append(piece)
                    received += len(piece)
                    if received > limit:
                        raise GPTMagicError(
                            f"The image at {source} is larger than the {human_size(limit)} "
                            "limit (GPTMagic.image_max_bytes): the download was stopped."
                        )
                    if time.monotonic() > deadline:
                        raise GPTMagicError(
                            f"The image at {source} took longer than {timeout:g} s to download "
                            f"(GPTMagic.timeout): stopped after {human_size(received)}."
                        )
        except transport_errors() as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status:
                detail = f"HTTP {status}"
            elif is_timeout(exc):
                detail = f"no data for {timeout:g} s, GPTMagic.timeout"
            else:
                detail = type(exc).__name__
            raise GPTMagicError(
                f"Could not download the image from {source} ({detail}). Image links expire "
                "after an hour: run the cell again."
            ) from None
        return b"".join(pieces)

    def picture(
        self, data: str | bytes, number: int, revised: str | None = None, source: str = ""
    ) -> Picture:
        """Decode base64 if needed and recognise the format from the bytes themselves;
        ``source`` is the host the bytes came from (the API's, or an image link's)."""
        host, limit = source or self.endpoint.host, self.settings.image_max_bytes
        if isinstance(data, str):
            size = len(data) * 3 // 4 - data.endswith("=") - data.endswith("==")
            if size > limit:  # checked before decoding makes a second copy
                raise GPTMagicError(
                    f"{host} sent image {number} of {human_size(size)}, over the "
                    f"{human_size(limit)} limit (GPTMagic.image_max_bytes)."
                )
            try:
                data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise GPTMagicError(
                    f"{self.endpoint.host} sent image {number} as invalid base64."
                ) from None
        found = image_format(data)
        if found is None:
            what = "SVG, which can carry scripts" if is_svg(data) else f"starts with {data[:8]!r}"
            raise GPTMagicError(
                f"{host} sent image {number} in a format gptmagic does not show ({what}): "
                f"only {RASTER} images are accepted."
            )
        return Picture(data, *found, revised_prompt=revised or None)

    def explain(self, exc: BaseException, sdk: Any = None) -> str:
        """One line; a content-policy refusal shows the server's own reason."""
        import openai

        from .diagnosis import explain_failure

        host = self.endpoint.host
        if (
            isinstance(exc, openai.BadRequestError)
            and error_field(exc, "code") in CONTENT_POLICY_CODES
        ):
            text = (
                f"{host} refused the prompt under its content policy: {server_message(exc)} "
                "Rephrase the prompt and run the cell again."
            )
        else:
            text = explain_failure(
                exc,
                endpoint=self.endpoint,
                model=self.request.model,
                secrets=known_secrets(self.session),
                sdk=sdk,
                what="image request",
            )
        return redact(text, known_secrets(self.session))

    # -- the end ---------------------------------------------------------------------------
    def save(self, pictures: list[Picture]) -> str | None:
        """Save as ``--save`` asks; an error is reported after the images are shown."""
        r = self.request
        if not r.save:
            return None
        try:
            save_pictures(pictures, r.save, r.prompt, saves_to_folder(r.save, r.n))
        except OSError as exc:
            return f"Could not save the image to {r.save}: {exc.strerror or exc}."
        return None

    def outputs(self, pictures: list[Picture], usage: Usage | None, seconds: float) -> list[Output]:
        """Each image (with provenance metadata), then one caption."""
        r = self.request
        outputs: list[Output] = []
        for i, picture in enumerate(pictures, 1):
            alt = f"[image {i} of {len(pictures)}: {r.prompt[:80]}]"
            meta = provenance(
                model=r.model,
                host=self.endpoint.host,
                parameters=r.parameters(),
                usage=usage,
                finish_reasons=[],
                status="complete",
                kind="image",
                prompt=r.prompt,
                revised_prompt=picture.revised_prompt,
                image=i,
                images=len(pictures),
                format=picture.mime,
                saved=str(picture.path) if picture.path else None,
                **self.cached.provenance(),
            )
            outputs.append((picture.bundle(alt), {picture.mime: {"alt": alt}, "gptmagic": meta}))
        outputs.append((self.caption(pictures, usage, seconds), {}))
        return outputs

    def caption(
        self, pictures: list[Picture], usage: Usage | None, seconds: float
    ) -> dict[str, str]:
        r = self.request
        parts = [("Prompt", r.prompt)]
        revised = list(dict.fromkeys(p.revised_prompt for p in pictures if p.revised_prompt))
        parts += [("Revised prompt", text) for text in revised]
        if self.cached.hit:
            parts.append(("Note", self.cached.note()))
        if len(pictures) < r.n:
            parts.append(("Note", f"asked for {r.n} images; the server returned {len(pictures)}"))
        # The revised prompt is the server's text: its HTML is shown as text, never rendered.
        markdown = [
            "> " + f"**{label}:** {html.escape(text, quote=False)}".replace("\n", "\n> ")
            for label, text in parts
        ]
        plain = [f"{label}: {text}" for label, text in parts]
        saved = [str(p.path) for p in pictures if p.path]
        if saved:
            markdown.append("Saved to " + ", ".join(f"`{path}`" for path in saved))
            plain.append("Saved to " + ", ".join(saved))
        if self.settings.show_usage:
            footer = self.footer(usage, seconds)
            markdown.append(f"<sub>{footer}</sub>")
            plain.append(footer)
        return {"text/markdown": "\n\n".join(markdown), "text/plain": "\n".join(plain)}

    def footer(self, usage: Usage | None, seconds: float) -> str:
        r = self.request
        if self.cached.hit:
            spent = "replayed: not billed, not counted"
        elif usage is None:
            spent = "usage not reported by the server"
        else:
            spent = (
                f"{usage.total_tokens:,} tokens ({usage.prompt_tokens:,} input + "
                f"{usage.completion_tokens:,} output) · kernel total "
                f"{self.session.usage.total.total_tokens:,}"
            )
        return f"{r.model} · {r.size} · {seconds:.0f} s · {spent}"
