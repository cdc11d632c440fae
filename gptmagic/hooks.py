"""The IPython events gptmagic listens to (added beside IPython's own handling, never instead).

``pre_run_cell`` notes the running cell's id (frontends such as JupyterLab send one), so
``--code`` can tell a re-run of the same cell from a new one; ``post_run_cell`` keeps the
cell's exception, if any, for ``{_error}``. The callbacks live on the kernel's session, so
``%reload_ext gptmagic`` unregisters exactly the ones it registered.
"""

from __future__ import annotations

from typing import Any

from .session import KernelSession

EVENTS = ("pre_run_cell", "post_run_cell")


class KernelHooks:
    def __init__(self, session: KernelSession):
        self.session = session

    def pre_run_cell(self, info: Any) -> None:
        self.session.cell_id = getattr(info, "cell_id", None)

    def post_run_cell(self, result: Any) -> None:
        self.session.cell_id = None
        if result.error_in_exec is None and result.error_before_exec is None:
            return  # most cells: lasterror (its dataclass, its patterns) waits for a failure
        try:
            error = _last_error(result)
        except KeyboardInterrupt:  # a second Ctrl-C, meant for the cell that just ended:
            error = _last_error(result)  # keep this cell's error, not the one before it
        if error is not None:
            self.session.last_error = error


def _last_error(result: Any) -> Any:
    from . import lasterror

    return lasterror.from_result(result)


def register(shell: Any, session: KernelSession) -> None:
    if session.hooks is None:
        session.hooks = KernelHooks(session)
    for event in EVENTS:
        shell.events.register(event, getattr(session.hooks, event))


def unregister(shell: Any, session: KernelSession) -> None:
    if session.hooks is None:
        return
    for event in EVENTS:
        callback = getattr(session.hooks, event)
        if callback in shell.events.callbacks[event]:
            shell.events.unregister(event, callback)
