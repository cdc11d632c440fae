"""Where the API key comes from: typed in this kernel, the environment, or a hidden prompt.

The key is held in a :class:`~gptmagic.session.Secret`, never in a trait (``%config GPTMagic``
prints every trait) and never as a plain string in gptmagic's own frames, so neither a verbose
traceback nor ``%debug`` shows it.

Precedence: a key typed with ``%gpt key`` wins over ``OPENAI_API_KEY``: it was typed on
purpose, after the kernel (and its environment) started. Surrounding whitespace is stripped
from every key (a key read from a file, a ``.env`` with CRLF line ends); a key that still holds
a character an HTTP header cannot carry is refused before anything is sent.
"""

from __future__ import annotations

import getpass
import os
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import SECRET_PARAMETER, GPTMagicError, InterruptedAnswer
from .session import KernelSession, Secret

KEY_ENV = "OPENAI_API_KEY"
# Environment variables whose URL can carry ``user:password@`` (any case: the HTTP library
# reads ``https_proxy`` as well as ``HTTPS_PROXY``).
URL_VARIABLES = ("openai_base_url", "http_proxy", "https_proxy", "all_proxy")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}
PLACEHOLDER = "no-key-needed"  # local servers (Ollama, llama.cpp) ignore the key
TYPED = "typed with %gpt key"


def resolve_key(session: KernelSession, host: str) -> Secret:
    """The key to send: one typed in this kernel, the environment, then a hidden prompt."""
    key, source = key_and_source(session, host)
    if key is None:
        key, source = prompt_key(session), TYPED
    check_sendable(key, source)
    return key


def known_key(session: KernelSession, host: str) -> Secret | None:
    """The key to send if one is known without asking (background work must never prompt)."""
    return key_and_source(session, host)[0]


def key_and_source(session: KernelSession, host: str) -> tuple[Secret | None, str]:
    """The key known without asking, and where it comes from (words for ``%gpt`` status)."""
    if session.typed_key is not None:
        overrides = f" (instead of {KEY_ENV})" if env_key() is not None else ""
        return session.typed_key, TYPED + overrides
    if (env := env_key()) is not None:
        return env, f"from {KEY_ENV}"
    if hostname(host) in LOCAL_HOSTS:
        return Secret(PLACEHOLDER), "none (local server)"
    return None, "not set"


def env_key() -> Secret | None:
    value = os.environ.get(KEY_ENV, "").strip()
    return Secret(value) if value else None


def hostname(host: str) -> str:
    """``host`` without its port; IPv6 addresses keep their brackets (``[::1]:8000``)."""
    if host.startswith("["):
        return host[: host.find("]") + 1] or host
    return host.split(":")[0]


def check_sendable(key: Secret, source: str) -> None:
    """Refuse a key an HTTP header cannot carry, naming the problem but not the key."""
    value = key.reveal()
    for position, char in enumerate(value, 1):
        if " " < char <= "~":
            continue
        if char in "\r\n":
            what = "a line break"
        elif char in " \t":
            what = "a space or tab"
        elif char.isascii():
            what = "a control character"
        else:
            what = "a non-ASCII character"
        raise GPTMagicError(
            f"The API key ({source}) has {what} inside it (character {position}), which an "
            "HTTP header cannot carry; nothing was sent. Copy the key again, in one piece."
        )


def prompt_key(session: KernelSession) -> Secret:
    """Ask for the key without echoing it; a clear error where nobody can answer."""
    if env_key() is None:
        question = f"{KEY_ENV} is not set. API key (hidden, kept for this kernel): "
    else:
        question = f"API key (hidden, kept for this kernel, used instead of {KEY_ENV}): "
    try:
        typed = getpass.getpass(question)
    except KeyboardInterrupt:  # Ctrl-C at the prompt (a notebook's input box too)
        raise InterruptedAnswer(
            "Interrupted: no key was entered; the key in use is unchanged."
        ) from None
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
    key = Secret(typed.strip())
    if not key.reveal():
        raise GPTMagicError(f"No API key entered; set {KEY_ENV} or run %gpt key again.")
    check_sendable(key, TYPED)
    session.typed_key = key
    return key


def known_secrets(session: KernelSession) -> list[Secret]:
    """Every secret that must never be displayed (see :func:`~gptmagic.errors.redact`)."""
    from .backends import secret_variables  # other providers' credentials (e.g. Azure's)

    secrets = [env_key(), session.typed_key]
    secrets += [Secret(v) for n in secret_variables() if (v := os.environ.get(n, "").strip())]
    env_urls = [url for name, url in os.environ.items() if name.lower() in URL_VARIABLES]
    secrets += [*url_passwords(*env_urls), *session.url_passwords]
    return [s for s in secrets if s is not None]


def remember_url_passwords(session: KernelSession, *urls: str | None) -> None:
    """Make the passwords of a cell's base URL and proxy (traits, or the environment's) known
    secrets of the kernel, kept after a setting changes: the password is no less secret."""
    session.url_passwords.update(url_passwords(*urls))


def url_passwords(*urls: str | None) -> set[Secret]:
    """The password of each ``scheme://user:password@host`` as written and percent-decoded
    (:func:`~gptmagic.errors.secret_forms` derives the encoded forms); never the user name."""
    found = set()
    for url in filter(None, urls):
        url = url.strip()
        try:  # without a scheme ("user:pw@proxy:3128") the whole text would be a path
            password = urlsplit(url if "://" in url else "//" + url).password
        except ValueError:  # an unparseable address (a broken IPv6 literal): no password read
            continue
        found |= {Secret(password), Secret(unquote(password))} if password else set()
        found |= query_secrets(url)
    return found


def query_secrets(url: str) -> set[Secret]:
    """The values of a URL's query parameters named like credentials (``?key=``, ``?token=``),
    decoded (:func:`~gptmagic.errors.secret_forms` derives the encoded forms): a gateway's key
    in its URL is a key."""
    pairs = parse_qsl(urlsplit(url).query)
    return {Secret(value) for name, value in pairs if SECRET_PARAMETER.search(name)}
