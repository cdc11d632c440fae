"""The kernel's conversation: system prompt, completed turns, and history trimming.

A turn (user message + assistant answer) enters the history only once the answer is
complete (or interrupted, and then marked), so a failed request never leaves a dangling
user message. A ``--tools`` turn also holds its steps: the assistant's tool-call messages and
the tool results, sent again with the turn, so a follow-up question can build on the data the
model already looked at. Each message caches its token count, so trimming a 500-turn history
costs the same as a 10-turn one.

A user message's content is the prompt string, or a list of parts when it carries images
(content.py). Images stay in the history and are sent again with later turns (a follow-up
such as "and the second panel?" needs them) until trimming drops their turn; each counts a
labelled estimate by its size (content.image_tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .content import Content, map_text, message_tokens
from .files import without_lone_surrogates
from .tokens import estimate_tokens


@dataclass
class Message:
    role: str
    content: Content
    tokens: int = 0
    tokens_exact: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    # an assistant step that calls tools: [{"id", "name", "arguments"}]
    tool_calls: list[dict[str, str]] | None = None
    tool_call_id: str | None = None  # a tool result: the call it answers

    def __post_init__(self) -> None:
        if not self.tokens:
            calls = "".join(c["name"] + c["arguments"] for c in self.tool_calls or ())
            self.tokens = message_tokens(self.content) + estimate_tokens(calls)

    def to_api(self) -> dict[str, Any]:
        """The neutral message every backend translates (tool calls and results included)."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [dict(call) for call in self.tool_calls]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message


@dataclass
class Turn:
    user: Message
    assistant: Message
    steps: list[Message] = field(default_factory=list)  # tool calls and results, in order

    @property
    def tokens(self) -> int:
        return self.user.tokens + sum(m.tokens for m in self.steps) + self.assistant.tokens

    @property
    def messages(self) -> list[Message]:
        return [self.user, *self.steps, self.assistant]


@dataclass
class Plan:
    """The messages one request will send, and which old turns it leaves out."""

    messages: list[dict[str, Any]]
    user: Message
    system: str = ""  # the system prompt sent; stored with the turn (-s)
    fresh: bool = False  # the turns before were left out on purpose (--new)
    dropped_turns: int = 0
    dropped_tokens: int = 0
    context_tokens: int = 0  # system prompt + the history sent


@dataclass
class Conversation:
    system: str = ""
    turns: list[Turn] = field(default_factory=list)

    def plan(
        self,
        prompt: Content,
        *,
        budget: int | None,
        use_history: bool = True,
        system: str | None = None,
        fresh: bool = False,
    ) -> Plan:
        """Messages for a request with ``prompt``: system + the newest turns within ``budget``.

        ``system`` (``-s``) and ``fresh`` (``--new``) shape this request only; :meth:`commit`
        makes them the conversation's, so a refused, failed or dry-run cell changes nothing.
        """
        # Half an emoji (an unpaired surrogate, from a {variable}) cannot be encoded to send.
        user = Message("user", map_text(prompt, without_lone_surrogates))
        system = without_lone_surrogates(self.system if system is None else system)
        head = [Message("system", system)] if system else []
        fixed = sum(m.tokens for m in head) + user.tokens
        kept: list[Turn] = []
        if use_history and not fresh:
            room = None if budget is None else budget - fixed
            for turn in reversed(self.turns):
                if room is not None and turn.tokens > room:
                    break
                kept.append(turn)
                if room is not None:
                    room -= turn.tokens
            kept.reverse()
        dropped = self.turns[: len(self.turns) - len(kept)] if use_history and not fresh else []
        messages = [m.to_api() for m in head]
        for turn in kept:
            messages += [m.to_api() for m in turn.messages]
        messages.append(user.to_api())
        return Plan(
            messages=messages,
            user=user,
            system=system,
            fresh=fresh,
            dropped_turns=len(dropped),
            dropped_tokens=sum(t.tokens for t in dropped),
            context_tokens=fixed - user.tokens + sum(t.tokens for t in kept),
        )

    def commit(
        self,
        plan: Plan,
        answer: Message,
        prompt_tokens: int | None = None,
        steps: list[Message] | None = None,
    ) -> None:
        """Store the turn of a finished request (with its tool steps), dropping the turns the
        plan left out. ``prompt_tokens``: the first request's, which sent no steps."""
        if prompt_tokens:
            # The server's prompt count minus everything else sent is the prompt's true size.
            own = prompt_tokens - plan.context_tokens
            if own > 0:
                plan.user.tokens, plan.user.tokens_exact = own, True
        if plan.fresh:
            self.turns.clear()
        self.system = plan.system
        del self.turns[: plan.dropped_turns]
        self.turns.append(Turn(plan.user, answer, list(steps or ())))

    def reset(self) -> None:
        """Forget the turns; the system prompt stays."""
        self.turns.clear()

    @property
    def messages(self) -> list[Message]:
        head = [Message("system", self.system)] if self.system else []
        return head + [m for t in self.turns for m in t.messages]

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.turns)
