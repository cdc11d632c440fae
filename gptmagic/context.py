"""Prompt context: ``{name}`` in a ``%%gpt`` body becomes a rendering of a kernel variable.

Prompts are full of pasted code, so this is a small tokenizer, not ``str.format``:

* fenced code blocks (```` ``` ```` or ``~~~``, to their closing fence or the end) and inline
  backtick spans are copied untouched;
* ``{{`` is a literal ``{``, and ``}}`` a literal ``}`` when it closes a ``{{`` (so the ``}}``
  ending a nested dict stays as typed);
* ``{expr}`` is replaced only when ``expr`` is a name followed by attribute reads and literal
  subscripts (``df``, ``df.columns``, ``In[3]``, ``df["price"]``); any other brace (``{}``,
  ``{"a": 1}``, ``{x: 1 for x in y}``, ``{a + b}``) is left as typed.

Expressions are never ``eval``-ed: the first name is looked up in the user namespace, then
each step is one ``getattr`` (no names starting with ``_``) or one ``[]`` with an integer or
string literal. ``{_error}`` is the kernel's last exception (lasterror.py). An unknown name or
a failing step raises :class:`GPTMagicError`, before anything is sent. In a ``%%gpt`` body a
picture (a matplotlib Figure, a PIL image, PNG/JPEG bytes: pictures.py) becomes an image part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import GPTMagicError, InterruptedAnswer

ERROR_NAME = "_error"

_IDENT = r"[^\W\d]\w*"
_LITERAL = r"-?\d+|'[^'\\\n]*'|\"[^\"\\\n]*\""
_STEP = rf"\.({_IDENT})|\[({_LITERAL})\]"
_FIELD = re.compile(rf"\{{\s*({_IDENT}(?:{_STEP})*)\s*\}}")
_STEPS = re.compile(_STEP)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_SPECIAL = re.compile(r"[`{}]")
_BACKTICKS = re.compile(r"`+")
# ``{df.head()}``, ``{len(df)}``: a call, left as typed; noted when it names a kernel variable
_CALL = re.compile(r"\{([^{}\n]*\([^{}\n]*\)[^{}\n]*)\}")
_NAMES = re.compile(_IDENT)


def interpolate(
    prompt: str,
    namespace: Mapping[str, Any],
    describe: Callable[[Any, str], str],
    last_error: Callable[[], str | None] = lambda: None,
) -> str:
    """``prompt`` with every ``{expr}`` outside code replaced by ``describe(value, expr)``."""
    return "".join(interpolate_pieces(prompt, namespace, describe, last_error))  # type: ignore[arg-type]


def interpolate_pieces(
    prompt: str,
    namespace: Mapping[str, Any],
    describe: Callable[[Any, str], str],
    last_error: Callable[[], str | None] = lambda: None,
    picture: Callable[[Any, str], Any] = lambda value, expr: None,
    calls: list[str] | None = None,
) -> list[Any]:
    """The interpolated prompt as ordered pieces: text, and whatever ``picture(value, expr)``
    returned (not None) for a value in place of its text rendering.

    ``calls`` (when given) receives each brace left as typed because it is a call on a kernel
    variable (``{df.head()}``, ``{len(df)}``): the cell says so, or the model would be asked
    about data it never got."""
    renderer = _Renderer(namespace, describe, last_error, picture)
    renderer.calls = calls if calls is not None else []
    out: list[Any] = []
    for is_code, text in split_fences(prompt):
        out += [text] if is_code else renderer.prose(text)
    return out


def interpolate_cell(ctx: Any, prompt: str) -> str:
    """A prompt rendered with the kernel's namespace and the magic's context settings.

    Used for the text-only prompts: ``-s TEXT`` (a system prompt is text in every API) and
    the ``%gptimage`` prompt (line or cell). A picture there is a one-line error, since
    only a ``%%gpt`` body can send one (:func:`interpolate_body`). IPython's own expansion of
    magic lines, which evaluates ``{expression}``, is switched off for gptmagic's magics
    (``no_var_expand``).

    Every inserted value passes :func:`~gptmagic.errors.redact`: ``{os.environ}`` or an error
    message quoting the key must not carry it to the server, the history or an export.
    """
    from .pictures import is_picture

    def refuse(value: Any, expr: str) -> None:
        if is_picture(value):
            raise GPTMagicError(
                f"{{{expr}}} is an image: only the prompt in a %%gpt cell can send one (a "
                "system prompt (-s) and a %gptimage prompt are text). Nothing was sent."
            )

    return "".join(_pieces(ctx, prompt, refuse))


def interpolate_body(
    ctx: Any, prompt: str, calls: list[str] | None = None
) -> tuple[Any, list[str]]:
    """A ``%%gpt`` body rendered like :func:`interpolate_cell`, but a picture value
    (:func:`~gptmagic.pictures.as_picture`: a matplotlib Figure, a PIL image, PNG/JPEG bytes)
    becomes an image part where it stood, within ``GPTMagic.image_prompt_max_side`` and
    ``image_prompt_max_bytes``.

    Returns the user message's content (the plain string when there is no picture, so such
    requests are unchanged) and the labels of the pictures in order (``["fig"]``); ``calls``
    receives the calls on kernel variables left as typed (see :func:`interpolate_pieces`).
    """
    from .pictures import as_picture, text_and_images

    def picture(value: Any, expr: str) -> Any:
        return as_picture(
            value,
            expr,
            max_side=ctx.settings.image_prompt_max_side,
            max_bytes=ctx.settings.image_prompt_max_bytes,
        )

    pieces = _pieces(ctx, prompt, picture, calls)
    labels = [p.label for p in pieces if not isinstance(p, str)]
    return text_and_images(pieces), labels


def _pieces(
    ctx: Any, prompt: str, picture: Callable[[Any, str], Any], calls: list[str] | None = None
) -> list[Any]:
    from .apikey import known_secrets
    from .describe import Options, describe
    from .errors import redact

    options = Options(
        rows=ctx.settings.context_rows,
        stats=ctx.settings.context_stats,
        max_chars=ctx.settings.context_max_chars,
    )
    session = ctx.session
    secrets = known_secrets(session)

    def last_error() -> str | None:
        if session.last_error is None:
            return None
        return redact(session.last_error.prompt_text(), secrets, urls=False)

    pieces = interpolate_pieces(
        prompt,
        ctx.shell.user_ns,
        lambda value, label: redact(describe(value, label, options), secrets, urls=False),
        last_error,
        picture,
        calls,
    )
    if calls:  # quoted in the cell's notes: {f("sk-...")} must not show the key
        calls[:] = [redact(typed, secrets, urls=False) for typed in calls]
    return pieces


def split_fences(text: str) -> list[tuple[bool, str]]:
    """``text`` as (is_code, part) pieces: fenced code blocks and the prose between them."""
    parts: list[tuple[bool, str]] = []
    prose: list[str] = []
    fence: str | None = None
    code: list[str] = []
    for line in text.splitlines(keepends=True):
        opener = _FENCE.match(line)
        if fence is None:
            if opener:
                fence = opener.group(1)
                code = [line]
                parts.append((False, "".join(prose)))
                prose = []
            else:
                prose.append(line)
        else:
            code.append(line)
            closer = line.strip()
            if closer.startswith(fence) and set(closer) == {fence[0]}:
                parts.append((True, "".join(code)))
                fence = None
    if fence is not None:  # an unclosed fence runs to the end, as in CommonMark
        parts.append((True, "".join(code)))
    parts.append((False, "".join(prose)))
    return [(is_code, part) for is_code, part in parts if part]


def unclosed_fence(text: str) -> str:
    """The code fence ``text`` leaves open at its end, or "": close it before more Markdown
    follows, or that Markdown is drawn as code."""
    parts = split_fences(text)
    if not parts or not parts[-1][0]:
        return ""
    lines = parts[-1][1].splitlines()
    fence = _FENCE.match(lines[0]).group(1)  # type: ignore[union-attr]
    last = lines[-1].strip() if len(lines) > 1 else ""
    return "" if last.startswith(fence) and set(last) == {fence[0]} else fence


class _CodeSpans:
    """Where the inline code span opened at a backtick run ends, in linear time overall.

    As in CommonMark, a run of n backticks opens a span that ends after the next run of
    exactly n; with none, the run is literal text. The runs are found in one pass, and each
    length keeps a cursor that only moves forward: looking for a closer never re-reads the
    text, so thousands of unmatched runs cost no more than matched ones. ``steps`` counts
    the runs the cursors passed (tests pin the cost with it).
    """

    def __init__(self, text: str):
        self.starts: dict[int, list[int]] = {}
        self.length: dict[int, int] = {}
        for run in _BACKTICKS.finditer(text):
            self.starts.setdefault(len(run.group()), []).append(run.start())
            self.length[run.start()] = len(run.group())
        self.cursor: dict[int, int] = dict.fromkeys(self.starts, 0)
        self.steps = 0

    def end(self, start: int) -> int:
        """Where the span opened by the run at ``start`` ends (the run's end, if unmatched)."""
        n = self.length[start]
        starts, i = self.starts[n], self.cursor[n]
        while i < len(starts) and starts[i] <= start:
            i += 1
            self.steps += 1
        self.cursor[n] = i
        return starts[i] + n if i < len(starts) else start + n


class _Renderer:
    def __init__(
        self,
        namespace: Mapping[str, Any],
        describe: Callable[[Any, str], str],
        last_error: Callable[[], str | None],
        picture: Callable[[Any, str], Any],
    ):
        self.namespace, self.describe, self.last_error = namespace, describe, last_error
        self.picture = picture
        self.cache: dict[str, Any] = {}
        self.calls: list[str] = []

    def prose(self, text: str) -> list[Any]:
        out: list[Any] = []
        pos, escapes = 0, 0  # escapes: ``{{`` still waiting for their ``}}``
        spans = _CodeSpans(text)
        while (match := _SPECIAL.search(text, pos)) is not None:
            start = match.start()
            out.append(text[pos:start])
            char = text[start]
            if char == "`":
                pos = spans.end(start)
                out.append(text[start:pos])
            elif text.startswith("{{", start):
                out.append("{")
                escapes, pos = escapes + 1, start + 2
            elif text.startswith("}}", start) and escapes:
                out.append("}")
                escapes, pos = escapes - 1, start + 2
            elif char == "{" and (field := _FIELD.match(text, start)):
                out.append(self.placed(self.field(field.group(1)), text, start, field.end()))
                pos = field.end()
            else:
                if char == "{" and (call := _CALL.match(text, start)):
                    self.note_call(call.group())
                out.append(char)
                pos = start + 1
        out.append(text[pos:])
        return out

    def note_call(self, typed: str) -> None:
        """Keep ``typed`` (a brace holding a call) when it names a variable of the kernel."""
        names = _NAMES.findall(typed)
        if typed not in self.calls and any(name in self.namespace for name in names):
            self.calls.append(typed)

    @staticmethod
    def placed(rendering: Any, text: str, start: int, end: int) -> Any:
        """Multi-line renderings (tables, code) are blocks: a blank line before and after.

        Without it Markdown reads the next line of the prompt as one more table row, or runs
        the rendering's first line into the sentence before it.
        """
        if not isinstance(rendering, str) or "\n" not in rendering:
            return rendering  # a picture stands where it was written
        before, after = text[:start], text[end:]
        lead = "\n" * (2 - len(before) + len(before.rstrip("\n"))) if before else ""
        trail = "\n" * (2 - len(after) + len(after.lstrip("\n"))) if after else ""
        return f"{lead}{rendering}{trail}"

    def field(self, expr: str) -> Any:
        if expr not in self.cache:
            try:
                value = self.evaluate(expr)
                picture = self.picture(value, expr)
                # A repr that raises is reported like a failing read, in one line.
                self.cache[expr] = (
                    picture if picture is not None else self.step(expr, self.describe, value, expr)
                )
            except KeyboardInterrupt:  # a slow repr, property or figure: Ctrl-C stops it
                raise InterruptedAnswer(
                    f"Interrupted while reading {{{expr}}} into the prompt; nothing was sent."
                ) from None
        return self.cache[expr]

    def evaluate(self, expr: str) -> Any:
        name = re.match(_IDENT, expr).group()  # type: ignore[union-attr]
        value = self.lookup(name, expr)
        for step in _STEPS.finditer(expr, len(name)):
            attribute, literal = step.groups()
            if attribute is not None:
                if attribute.startswith("_"):
                    raise GPTMagicError(
                        f"{{{expr}}}: private attribute {attribute!r} is not read into prompts "
                        "(only public attributes and [index] lookups)."
                    )
                value = self.step(expr, getattr, value, attribute)
            else:
                key = int(literal) if literal[0] not in "'\"" else literal[1:-1]
                value = self.step(expr, lambda v, k: v[k], value, key)
        return value

    def lookup(self, name: str, expr: str) -> Any:
        if name == ERROR_NAME:
            error = self.last_error()
            if error is None:
                raise GPTMagicError(
                    "{_error} is the kernel's last exception, but no cell has raised one yet."
                )
            return error
        if len(name) > 4 and name.startswith("__") and name.endswith("__"):
            raise GPTMagicError(f"{{{expr}}}: special name {name!r} is not read into prompts.")
        if name not in self.namespace:
            raise GPTMagicError(
                f"Unknown name {name!r} in {{{expr}}}: no such variable in the kernel, so "
                f"nothing was sent. Run the cell that defines it, or write "
                f"{{{{{expr}}}}} for literal braces."
            )
        return self.namespace[name]

    @staticmethod
    def step(expr: str, read: Callable[[Any, Any], Any], value: Any, key: Any) -> Any:
        try:
            return read(value, key)
        except Exception as exc:
            message = " ".join(str(exc).split())
            message = message if len(message) <= 200 else message[:200] + "…"
            raise GPTMagicError(
                f"Cannot read {{{expr}}}: {type(exc).__name__}: {message}. Nothing was sent."
            ) from None
