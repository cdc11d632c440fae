"""The ``%gpt`` subcommands: status, reset, history, models, usage, save, load, key.

Each subcommand is a small function with its own ``magic_arguments`` parser, registered in
``SUBCOMMANDS``, so ``%gpt`` is a table lookup rather than an ``if`` chain and every
subcommand gets IPython's one-line usage errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.magic_arguments import argument, magic_arguments

from . import export
from .apikey import KEY_ENV, env_key, key_and_source, known_secrets, prompt_key
from .arguments import parse
from .errors import GPTMagicError
from .render import show_markdown

if TYPE_CHECKING:
    from .magics import GPTMagic

SUBCOMMANDS: dict[str, Callable[[GPTMagic, Any], Any]] = {}


def subcommand(name: str) -> Callable:
    def register(func: Callable) -> Callable:
        func = magic_arguments(name=f"gpt {name}")(func)
        SUBCOMMANDS[name] = func
        return func

    return register


def run_subcommand(magic: GPTMagic, line: str) -> Any:
    name, _, rest = line.strip().partition(" ")
    func = SUBCOMMANDS.get(name or "status")
    if func is None:
        raise GPTMagicError(
            f"Unknown %gpt subcommand {name!r}. Use one of: {', '.join(SUBCOMMANDS)} "
            "(and %%gpt, with two %, to chat)."
        )
    return func(magic, parse(func, rest))


@subcommand("status")
def status(magic: GPTMagic, args: Any) -> None:
    """One line: model, server, conversation length, tokens used, where the key comes from."""
    endpoint = magic.endpoint()
    conv, usage = magic.session.conversation, magic.session.usage
    cache = f" · cache {magic.cache_mode} {magic.cache}" if magic.cache else ""
    source = key_and_source(magic.session, endpoint.host)[1]  # where from, never the key
    print(
        f"gptmagic: model {magic.model} at {endpoint.host} · conversation {len(conv.turns)} "
        f"turn(s), ≈{conv.tokens:,} tokens · kernel usage {usage.total.total_tokens:,} tokens · "
        f"key {source}{cache}.  Chat with %%gpt; %gpt? lists subcommands."
    )


@subcommand("reset")
def reset(magic: GPTMagic, args: Any) -> None:
    """Start a fresh conversation (the system prompt stays)."""
    turns = len(magic.session.conversation.turns)
    magic.session.conversation.reset()
    print(f"New conversation ({turns} turn(s) forgotten; system prompt kept).")


@subcommand("history")
def history(magic: GPTMagic, args: Any) -> None:
    """Show the conversation as Markdown."""
    conv = magic.session.conversation
    if not conv.turns and not conv.system:
        print("The conversation is empty.")
        return
    show_markdown(export.to_markdown(conv))


@subcommand("panel")
def panel(magic: GPTMagic, args: Any) -> None:
    """Show the settings panel (ipywidgets) linked to GPTMagic's traits; text in a terminal."""
    from .panel import show_panel

    show_panel(magic)


@subcommand("models")
def models(magic: GPTMagic, args: Any) -> None:
    """List the models the server offers (GET /v1/models)."""
    from .client import list_models, sdk_for
    from .diagnosis import explain_failure

    endpoint = magic.endpoint()
    sdk = sdk_for(magic.session, endpoint)
    try:
        names = list_models(sdk)
    except GPTMagicError:
        raise
    except Exception as exc:  # the SDK's errors, and a request refused before sending
        secrets = known_secrets(magic.session)
        text = explain_failure(
            exc, endpoint=endpoint, model=magic.model, secrets=secrets, sdk=sdk, what="model list"
        )
        raise GPTMagicError(text) from None
    lines = [f"- `{n}`" + (" ← current" if n == magic.model else "") for n in names]
    show_markdown(f"{len(names)} model(s) at {endpoint.host}:\n\n" + "\n".join(lines))


@subcommand("usage")
@argument("--reset", action="store_true", help="set the kernel's token count back to zero")
def usage(magic: GPTMagic, args: Any) -> None:
    """Tokens used per answer and for the kernel (prompt / completion / total)."""
    if args.reset:
        magic.session.usage.reset()
        print("Token usage reset to 0 for this kernel.")
        return
    ledger = magic.session.usage
    budget = magic.token_budget
    text = ledger.to_markdown()
    if budget is not None:
        text += f"\n\nBudget: {ledger.total.total_tokens:,} of {budget:,} tokens used."
    show_markdown(text)


@subcommand("save")
@argument("path", help="file to write: .json (lossless), .md or .ipynb")
def save(magic: GPTMagic, args: Any) -> None:
    """Save the conversation."""
    target = export.save(magic.session.conversation, args.path)
    print(f"Saved {len(magic.session.conversation.turns)} turn(s) to {target}.")


@subcommand("load")
@argument("path", help="file to read: .json, .md or .ipynb written by %%gpt save")
def load(magic: GPTMagic, args: Any) -> None:
    """Replace the conversation with one saved earlier."""
    magic.session.conversation = export.load(args.path)
    print(f"Loaded {len(magic.session.conversation.turns)} turn(s) from {args.path}.")


@subcommand("key")
@argument("--forget", action="store_true", help=f"forget the typed key (back to {KEY_ENV})")
def key(magic: GPTMagic, args: Any) -> None:
    """Type the API key at a hidden prompt (kept in memory for this kernel only).

    A typed key is used instead of OPENAI_API_KEY until the kernel restarts or --forget.
    """
    if args.forget:
        had = magic.session.typed_key is not None
        magic.session.typed_key = None
        source = key_and_source(magic.session, magic.endpoint().host)[1]
        print(f"{'Typed key forgotten' if had else 'No key was typed'}; key now: {source}.")
        return
    prompt_key(magic.session)
    instead = f", used instead of {KEY_ENV}" if env_key() is not None else ""
    print(f"API key set for this kernel{instead} (not saved anywhere).")
