"""One ``%%gpt --tools`` round: the model's tool calls run on the kernel's values, as steps of
the turn (an assistant message with the calls, one tool message per result).

The tools themselves (gptmagic/tools) never raise and never run code; this module feeds them
the cell's namespace, secrets and ``context_*`` options, numbers the calls, and turns a round
into the neutral messages sent next, the lines shown in the cell, the provenance listed with
the answer and the record the replay cache keeps (so a replay shows the same lines without
running anything).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .conversation import Message
from .render import call_line

if TYPE_CHECKING:
    from .backends.events import ToolCall
    from .settings import CellContext

CALL_FIELDS = ("id", "name", "arguments", "output", "summary")


@dataclass
class ToolRound:
    """What the model said and called in one answer, with each call's result."""

    text: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # CALL_FIELDS and "ok"

    def steps(self) -> list[Message]:
        """The assistant's tool-call message and one tool message per result."""
        asked = [{k: call[k] for k in ("id", "name", "arguments")} for call in self.calls]
        steps = [Message("assistant", self.text, tool_calls=asked)]
        for call in self.calls:
            meta = {k: call[k] for k in ("name", "ok", "summary")}
            steps.append(Message("tool", call["output"], tool_call_id=call["id"], meta=meta))
        return steps

    def summaries(self) -> list[str]:
        return [call["summary"] for call in self.calls]

    def shown(self) -> list[str]:
        """The round as the cell's final output shows it, in the order it happened: what the
        model said beside its calls (if anything), then one quoted line per call."""
        said = [self.text.strip()] if self.text.strip() else []
        return said + [call_line(line) for line in self.summaries()]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "calls": [dict(call) for call in self.calls]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolRound:
        return cls(data["text"], [dict(call) for call in data["calls"]])


def run_calls(
    ctx: CellContext, text: str, calls: list[ToolCall], number: int, *, refused: bool
) -> ToolRound:
    """Run ``calls`` (the ``number``-th round, from 1) on the kernel's values; past the round
    limit (``refused``) none is run and each is answered with the limit's message, as are
    the calls after the first ``MAX_CALLS`` of a round. A secret
    the model echoes in a call's name or arguments is masked in the round kept; a call id
    holding one (or none) is replaced by a numbered id, unique in the turn."""
    from .apikey import known_secrets
    from .describe import Options
    from .errors import redact
    from .tools import CALL_LIMIT_OUTPUT, MAX_CALLS, ROUND_LIMIT_OUTPUT, run_tool, unrun_tool

    settings = ctx.settings
    options = Options(
        rows=settings.context_rows,
        stats=settings.context_stats,
        max_chars=settings.context_max_chars,
    )
    secrets = known_secrets(ctx.session)
    done = ToolRound(text)
    for position, call in enumerate(calls):
        if refused:
            why = "not run (tool round limit)"
            result = unrun_tool(call.name, call.arguments, ROUND_LIMIT_OUTPUT, why, secrets=secrets)
        elif position >= MAX_CALLS:
            why = f"not run (at most {MAX_CALLS} calls per round)"
            result = unrun_tool(call.name, call.arguments, CALL_LIMIT_OUTPUT, why, secrets=secrets)
        else:
            result = run_tool(
                call.name,
                call.arguments,
                ctx.shell.user_ns,
                options=options,
                secrets=secrets,
                last_error=ctx.session.last_error,
            )
        call_id = call.call_id
        if not call_id or redact(call_id, secrets, urls=False) != call_id:
            call_id = f"call_{number}_{position}"  # none sent, or one holding a secret
        done.calls.append(
            {
                "id": call_id,  # the result answers it in what is sent back and kept
                # The tool read them as sent; kept (history, metadata, exports, cache) masked
                "name": redact(call.name, secrets, urls=False),
                "arguments": redact(call.arguments, secrets, urls=False),
                "output": result.output,
                "ok": result.ok,
                "summary": result.summary,
            }
        )
    return done


def listed_calls(rounds: list[ToolRound]) -> list[dict[str, Any]]:
    """The answer's tool calls as its metadata lists them (arguments parsed when they can be)."""
    import json

    listed = []
    for call in (call for r in rounds for call in r.calls):
        try:
            arguments = json.loads(call["arguments"]) if call["arguments"].strip() else {}
        except ValueError:
            arguments = call["arguments"]
        listed.append(
            {"name": call["name"], "arguments": arguments, "ok": call["ok"]}
            | {"summary": call["summary"]}
        )
    return listed


def readable_rounds(rounds: Any) -> bool:
    """Whether a cache record's ``tool_rounds`` can be replayed (a hand edit must not crash)."""
    return isinstance(rounds, list) and all(
        isinstance(r, dict)
        and isinstance(r.get("text"), str)
        and isinstance(r.get("calls"), list)
        and all(
            isinstance(c, dict)
            and all(isinstance(c.get(k), str) for k in CALL_FIELDS)
            and isinstance(c.get("ok"), bool)
            for c in r["calls"]
        )
        for r in rounds
    )


def refuses_tools(exc: BaseException) -> bool:
    """A 400 whose ``param`` names the tools: the model or server has no function calling."""
    import openai

    from .errors import error_field

    param = error_field(exc, "param") if isinstance(exc, openai.BadRequestError) else None
    return isinstance(param, str) and param.partition(".")[0] in ("tools", "tool_choice")
