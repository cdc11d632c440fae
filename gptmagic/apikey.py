"""Where the API key comes from: the environment, or a hidden prompt, never the notebook.

The key is held in a :class:`~gptmagic.session.Secret` on the kernel session, not in a trait,
so ``%config GPTMagic`` can never print it.
"""

from __future__ import annotations

import getpass
import os

from .errors import GPTMagicError
from .session import KernelSession, Secret

KEY_ENV = "OPENAI_API_KEY"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}
PLACEHOLDER = "no-key-needed"  # local servers (Ollama, llama.cpp) ignore the key


def resolve_key(session: KernelSession, host: str) -> str:
    """The key to send: environment, then one typed earlier, then a hidden prompt."""
    return known_key(session, host) or prompt_key(session)


def known_key(session: KernelSession, host: str) -> str | None:
    """The key to send if one is known without asking (background work must never prompt)."""
    if env := os.environ.get(KEY_ENV):
        return env
    if session.typed_key is not None:
        return session.typed_key.reveal()
    if host.split(":")[0] in LOCAL_HOSTS:
        return PLACEHOLDER
    return None


def prompt_key(session: KernelSession) -> str:
    """Ask for the key without echoing it; a clear error where nobody can answer."""
    try:
        typed = getpass.getpass(f"{KEY_ENV} is not set. API key (hidden, kept for this kernel): ")
    except (EOFError, OSError, RuntimeError) as exc:
        raise GPTMagicError(
            f"No API key: set the {KEY_ENV} environment variable before starting the kernel "
            "(this run cannot prompt for one)."
        ) from exc
    except Exception as exc:  # ipykernel's StdinNotImplementedError (nbclient, papermill)
        if type(exc).__name__ != "StdinNotImplementedError":
            raise
        raise GPTMagicError(
            f"No API key: set the {KEY_ENV} environment variable before starting the kernel "
            "(a non-interactive run such as nbclient or papermill cannot prompt for one)."
        ) from None
    typed = typed.strip()
    if not typed:
        raise GPTMagicError(f"No API key entered; set {KEY_ENV} or run %gpt key again.")
    session.typed_key = Secret(typed)
    return typed


def known_secrets(session: KernelSession) -> list[str]:
    """Every secret that must never be displayed."""
    secrets = [os.environ.get(KEY_ENV)]
    if session.typed_key is not None:
        secrets.append(session.typed_key.reveal())
    return [s for s in secrets if s]
