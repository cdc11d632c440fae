"""Registering and unregistering the magics with an IPython shell.

The kernel's state lives in :mod:`gptmagic.session`, so unloading drops only the Magics
object: ``%reload_ext gptmagic`` keeps the conversation, the usage count and any settings
changed at run time (``%config`` or the panel).
"""

from __future__ import annotations

from . import hooks
from .magics import GPTMagic
from .session import session_for


def load(shell) -> None:
    magic = GPTMagic(shell=shell)
    for name, value in session_for(shell).settings.items():
        setattr(magic, name, value)
    shell.register_magics(magic)
    hooks.register(shell, magic.session)  # cell ids for --code, the last error for {_error}


def unload(shell) -> None:
    manager = shell.magics_manager
    magic = manager.registry.pop(GPTMagic.__name__, None)
    if magic is None:
        return
    hooks.unregister(shell, magic.session)
    defaults = magic.trait_defaults(*magic.trait_names(config=True))
    session_for(shell).settings = {
        name: getattr(magic, name)
        for name, default in defaults.items()
        if getattr(magic, name) != default
    }
    for _kind, table in manager.magics.items():
        for name in [n for n, fn in table.items() if getattr(fn, "__self__", None) is magic]:
            del table[name]
    if magic in shell.configurables:
        shell.configurables.remove(magic)
