"""The ``%gpt`` subcommands: status, reset, history, models, usage, save, load, key.

Each subcommand is a small function with its own ``magic_arguments`` parser, registered in
``SUBCOMMANDS``, so ``%gpt`` is a table lookup rather than an ``if`` chain and every
subcommand gets IPython's one-line usage errors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.magic_arguments import argument, magic_arguments

from . import export
from .apikey import KEY_ENV, TYPED, env_key, key_and_source, known_secrets, prompt_key
from .arguments import parse
from .errors import GPTMagicError, InterruptedAnswer
from .render import show_markdown

if TYPE_CHECKING:
    from .settings import CellContext

SUBCOMMANDS: dict[str, Callable[[CellContext, Any], Any]] = {}


def subcommand(name: str) -> Callable:
    def register(func: Callable) -> Callable:
        func = magic_arguments(name=f"gpt {name}")(func)
        SUBCOMMANDS[name] = func
        return func

    return register


def run_subcommand(ctx: CellContext, line: str) -> Any:
    name, _, rest = line.strip().partition(" ")
    func = SUBCOMMANDS.get(name or "status")
    if func is None:
        raise GPTMagicError(
            f"Unknown %gpt subcommand {name!r}. Use one of: {', '.join(SUBCOMMANDS)} "
            "(and %%gpt, with two %, to chat)."
        )
    return func(ctx, parse(func, rest))


@subcommand("status")
def status(ctx: CellContext, args: Any) -> None:
    """One line: model, server, conversation length, tokens used, where the key comes from."""
    endpoint = ctx.endpoint
    conv, usage = ctx.session.conversation, ctx.session.usage
    cache = f" · cache {ctx.settings.cache_mode} {ctx.settings.cache}" if ctx.settings.cache else ""
    source = key_source(ctx)  # where from, never the key
    via = "" if ctx.settings.api == "chat" else f" ({ctx.settings.api} API)"
    via += "" if endpoint.provider == "openai" else f" via {endpoint.provider}"
    print(
        f"gptmagic: model {ctx.settings.model}{via}{address(endpoint)} · conversation "
        f"{len(conv.turns)} "
        f"turn(s), ≈{conv.tokens:,} tokens · kernel usage {usage.total.total_tokens:,} tokens · "
        f"key {source}{cache}.  Chat with %%gpt; %gpt? lists subcommands."
    )


def address(endpoint: Any) -> str:
    """Where requests go, or what to set when a provider has no address (Azure's endpoint)."""
    if endpoint.host:
        return f" at {endpoint.host}"
    from .backends import PROVIDERS

    variable = PROVIDERS[endpoint.provider][2] if endpoint.provider in PROVIDERS else ""
    return f", endpoint not set (set {variable + ' or ' if variable else ''}GPTMagic.base_url)"


def key_source(ctx: CellContext) -> str:
    """Where the key sent comes from, in words: OpenAI's key, or another provider's."""
    if ctx.endpoint.provider == "openai":
        return key_and_source(ctx.session, ctx.endpoint.host)[1]
    if ctx.session.typed_key is not None:
        return TYPED
    variable = key_variable(ctx)
    return f"from {variable}" if variable else "not set"


def key_variable(ctx: CellContext) -> str | None:
    """The environment variable the provider's key comes from unless one is typed (if set)."""
    if ctx.endpoint.provider == "openai":
        return KEY_ENV if env_key() is not None else None
    from .backends import secret_variables

    found = [name for name in secret_variables(ctx.endpoint.provider) if os.environ.get(name)]
    return found[0] if found else None


@subcommand("reset")
def reset(ctx: CellContext, args: Any) -> None:
    """Start a fresh conversation (the system prompt stays)."""
    turns = len(ctx.session.conversation.turns)
    ctx.session.conversation.reset()
    print(f"New conversation ({turns} turn(s) forgotten; system prompt kept).")


@subcommand("history")
def history(ctx: CellContext, args: Any) -> None:
    """Show the conversation as Markdown, each image in a prompt as a thumbnail."""
    conv = ctx.session.conversation
    if not conv.turns and not conv.system:
        print("The conversation is empty.")
        return
    show_pieces(export.markdown_pieces(conv, inert=True))


def show_pieces(pieces: list[Any]) -> None:
    """Text as Markdown, each picture as its own image output (which GitHub, nbviewer and
    nbconvert draw, unlike a data-URI ``<img>`` in Markdown), in order."""
    from IPython.display import display

    from .pictures import thumbnail_output

    text = ""
    for piece in [*pieces, None]:
        if isinstance(piece, str):
            text += piece
            continue
        if text.strip():
            show_markdown(text)
        text = ""
        if piece is not None:
            data, metadata = thumbnail_output(piece)
            display(data, raw=True, metadata=metadata)


@subcommand("panel")
def panel(ctx: CellContext, args: Any) -> None:
    """Show the settings panel (ipywidgets) linked to GPTMagic's traits; text in a terminal."""
    from .panel import show_panel

    show_panel(ctx.shell.magics_manager.registry["GPTMagic"])  # the live traits, not a copy


@subcommand("models")
def models(ctx: CellContext, args: Any) -> None:
    """List the models the server offers (GET /v1/models)."""
    from .client import list_models, sdk_for
    from .diagnosis import explain_failure

    endpoint = ctx.endpoint
    sdk = sdk_for(ctx.session, endpoint)
    try:
        names = list_models(sdk)
    except KeyboardInterrupt:  # a server that does not answer: Ctrl-C, not the timeout
        raise InterruptedAnswer("Interrupted: the model list did not arrive.") from None
    except GPTMagicError:
        raise
    except Exception as exc:  # the SDK's errors, and a request refused before sending
        secrets = known_secrets(ctx.session)
        text = explain_failure(
            exc,
            endpoint=endpoint,
            model=ctx.settings.model,
            secrets=secrets,
            sdk=sdk,
            what="model list",
        )
        raise GPTMagicError(text) from None
    from .backends import model_is_deployment

    lines = [f"- `{n}`" + (" ← current" if n == ctx.settings.model else "") for n in names]
    if model_is_deployment(endpoint.provider):
        lines.append(DEPLOYMENTS_NOTE)
    show_markdown(f"{len(names)} model(s) at {endpoint.host}:\n\n" + "\n".join(lines))


#: under an Azure resource's model list, whose names -m does not take
DEPLOYMENTS_NOTE = (
    "\nThese are the models this Azure resource can deploy, not its deployments: -m takes the "
    "name you gave a deployment (the Deployments page of the Azure AI Foundry portal)."
)


@subcommand("usage")
@argument("--reset", action="store_true", help="set the kernel's token count back to zero")
def usage(ctx: CellContext, args: Any) -> None:
    """Tokens used per answer and for the kernel (prompt / completion / total)."""
    if args.reset:
        ctx.session.usage.reset()
        print("Token usage reset to 0 for this kernel.")
        return
    ledger = ctx.session.usage
    budget = ctx.settings.token_budget
    text = ledger.to_markdown()
    if budget is not None:
        text += f"\n\nBudget: {ledger.total.total_tokens:,} of {budget:,} tokens used."
    show_markdown(text)


@subcommand("save")
@argument("path", help="file to write: .json (lossless), .md or .ipynb")
def save(ctx: CellContext, args: Any) -> None:
    """Save the conversation."""
    target = export.save(ctx.session.conversation, args.path)
    print(f"Saved {len(ctx.session.conversation.turns)} turn(s) to {target}.")


@subcommand("load")
@argument("path", help="file to read: .json, .md or .ipynb written by %%gpt save")
def load(ctx: CellContext, args: Any) -> None:
    """Replace the conversation with one saved earlier."""
    ctx.session.conversation = export.load(args.path)
    print(f"Loaded {len(ctx.session.conversation.turns)} turn(s) from {args.path}.")


@subcommand("key")
@argument("--forget", action="store_true", help=f"forget the typed key (back to {KEY_ENV})")
def key(ctx: CellContext, args: Any) -> None:
    """Type the API key at a hidden prompt (kept in memory for this kernel only).

    A typed key is used instead of OPENAI_API_KEY until the kernel restarts or --forget.
    """
    if args.forget:
        had = ctx.session.typed_key is not None
        ctx.session.typed_key = None
        source = key_source(ctx)  # the provider's own variables with Azure
        print(f"{'Typed key forgotten' if had else 'No key was typed'}; key now: {source}.")
        return
    prompt_key(ctx.session)
    variable = key_variable(ctx)  # with Azure AZURE_OPENAI_API_KEY (it never reads OPENAI_API_KEY)
    instead = f", used instead of {variable}" if variable else ""
    print(f"API key set for this kernel{instead} (not saved anywhere).")
