"""Per-kernel state that must outlive the Magics instance.

``%reload_ext gptmagic`` builds a new ``GPTMagic`` object, so the conversation, the usage
ledger and the API key the user typed live here, keyed by the shell, not on the magics.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conversation import Conversation
    from .lasterror import LastError
    from .usage import UsageLedger


class Secret:
    """Holds the API key without ever showing it in a repr, str or format.

    gptmagic passes keys around only in this form, so a verbose traceback's frame locals,
    ``%debug`` and any object's repr show ``Secret('***')``; ``reveal()`` is called where the
    value is handed to the SDK or compared. Equal values are equal secrets (the client cache
    keys on them).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(eq=False)
class KernelSession:
    """Everything one kernel remembers between cells and across extension reloads."""

    typed_key: Secret | None = None
    # Passwords of the base and proxy URLs cells resolved (see apikey.remember_url_passwords).
    url_passwords: set[Secret] = field(default_factory=set, repr=False)
    # Parameter adaptations learnt from servers, keyed by (host, model, API); see
    # backends/chat_completions.py.
    compat: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    # Trait values that differ from their defaults at unload (panel, %config), restored by
    # the next load so a reload keeps them.
    settings: dict[str, Any] = field(default_factory=dict)
    clients: dict[tuple, Any] = field(default_factory=dict, repr=False)
    # The last exception of a user cell, for {_error} (see lasterror.py, hooks.py).
    last_error: LastError | None = None
    # The running cell's id when the frontend sends one (set by hooks.py during a cell).
    cell_id: str | None = None
    # --code: the cells (hashed id, else prompt) that already inserted code below them.
    inserted_cells: set[str] = field(default_factory=set, repr=False)
    hooks: Any = field(default=None, repr=False)
    # Made on first use (a cell, %gpt history...), so that %load_ext stays quick.
    _conversation: Conversation | None = field(default=None, repr=False)
    _usage: UsageLedger | None = field(default=None, repr=False)

    @property
    def conversation(self) -> Conversation:
        """The kernel's conversation (``%gpt load`` replaces it)."""
        if self._conversation is None:
            from .conversation import Conversation

            self._conversation = Conversation()
        return self._conversation

    @conversation.setter
    def conversation(self, value: Conversation) -> None:
        self._conversation = value

    @property
    def usage(self) -> UsageLedger:
        """The kernel's token usage, per answer and in total."""
        if self._usage is None:
            from .usage import UsageLedger

            self._usage = UsageLedger()
        return self._usage

    def __repr__(self) -> str:
        return (
            f"KernelSession(turns={len(self.conversation.turns)}, "
            f"total_tokens={self.usage.total.total_tokens})"
        )


_SESSIONS: weakref.WeakKeyDictionary[Any, KernelSession] = weakref.WeakKeyDictionary()


def session_for(shell: Any) -> KernelSession:
    """The session of ``shell``, created on first use."""
    session = _SESSIONS.get(shell)
    if session is None:
        session = _SESSIONS[shell] = KernelSession()
    return session
