"""One ``%%gpt`` cell from prompt to stored turn.

The order matters for consistency: validate and plan first (nothing sent on bad input),
stream into the view, then record usage, show the final output and only then commit the turn
to the conversation. A failed request leaves the history as it was; an interrupted answer is
kept, marked ``interrupted``; a broken stream is shown as incomplete and not stored.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import cache, compat
from .apikey import known_secrets
from .client import Delta, Finish, Reported, open_chat, sdk_for
from .conversation import Message, Plan
from .errors import GPTMagicError, InterruptedAnswer, connection_cause, explain, redact
from .render import answer_bundle, provenance, usage_footer
from .retrying import call_with_retries
from .streaming import AnswerView, MarkdownView, TextView
from .tokens import estimate_tokens
from .usage import Usage, UsageRecord

if TYPE_CHECKING:
    from .magics import GPTMagic


@dataclass
class CellRequest:
    """What one cell asks for, after cell options were laid over the kernel's settings."""

    prompt: str
    model: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    n: int
    stream: bool
    use_history: bool
    out: str | None = None
    dry_run: bool = False
    code: bool = False
    system: str | None = None  # -s: this conversation's new system prompt
    new: bool = False  # --new: leave the turns so far out (forgotten once this one succeeds)

    @classmethod
    def from_args(cls, magic: GPTMagic, args: Any, prompt: str) -> CellRequest:
        def pick(value: Any, default: Any) -> Any:
            return default if value is None else value  # 0 and 0.0 are real choices

        return cls(
            prompt=prompt,
            model=pick(args.model, magic.model),
            temperature=pick(args.temperature, magic.temperature),
            top_p=pick(args.top_p, magic.top_p),
            max_tokens=pick(args.max_tokens, magic.max_tokens),
            n=args.n,
            stream=magic.stream and not args.no_stream,
            use_history=not args.no_history,
            out=args.out,
            dry_run=args.dry_run,
            code=args.code,
            system=args.system,
            new=args.new,
        )

    def parameters(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "n": self.n,
            "stream": self.stream,
        }


@dataclass
class Collected:
    """Everything a stream delivered, whether or not it finished."""

    texts: dict[int, list[str]] = field(default_factory=dict)
    finishes: dict[int, str] = field(default_factory=dict)
    usage: Usage | None = None
    model: str | None = None

    def add(self, event: Any, view: AnswerView) -> None:
        if isinstance(event, Delta):
            self.texts.setdefault(event.index, []).append(event.text)
            view.append(event.index, event.text)
        elif isinstance(event, Finish):
            self.finishes[event.index] = event.reason
        elif isinstance(event, Reported):
            self.usage, self.model = event.usage, event.model or self.model

    def answers(self) -> list[str]:
        indexes = sorted(set(self.texts) | set(self.finishes)) or [0]
        return ["".join(self.texts.get(i, ())) for i in indexes]

    def finished(self) -> bool:
        return bool(self.finishes) and all(i in self.finishes for i in self.texts)


class ChatCell:
    """Runs one chat request for ``magic`` and keeps the kernel's state consistent."""

    def __init__(self, magic: GPTMagic, request: CellRequest):
        self.magic, self.request = magic, request
        self.session = magic.session
        self.endpoint = magic.endpoint()
        self.notes: list[str] = []

    # -- the steps ----------------------------------------------------------------------
    def run(self) -> None:
        request, session = self.request, self.session
        if refusal := session.usage.budget_refusal(self.magic.token_budget):
            raise GPTMagicError(refusal)
        plan = session.conversation.plan(
            request.prompt,
            budget=self.magic.history_max_tokens,
            use_history=request.use_history,
            system=request.system,
            fresh=request.new,
        )
        if plan.dropped_turns:
            self.notes.append(
                f"Dropped the {plan.dropped_turns} oldest turn(s) (≈{plan.dropped_tokens:,} "
                f"tokens) to keep the history within history_max_tokens = "
                f"{self.magic.history_max_tokens:,}."
            )
        body = self.body(plan.messages)
        if request.dry_run:
            self.show_dry_run(body)
            return
        self.cached = cache.for_chat(self.magic, self.endpoint.host, request, body)
        view = self.make_view()
        collected, outcome, cause = self.stream(body, view)
        self.finish(plan, collected, outcome, cause, view)

    def body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        """The request body in the form this (host, model) accepts."""
        r = self.request
        return compat.chat_body(
            model=r.model,
            messages=messages,
            temperature=r.temperature,
            top_p=r.top_p,
            max_tokens=r.max_tokens,
            n=r.n,
            stream=r.stream,
            adaptations=self.adaptations(),
        )

    def adaptations(self) -> set[str]:
        return self.session.compat.setdefault((self.endpoint.host, self.request.model), set())

    def make_view(self) -> AnswerView:
        mode = self.magic.display
        if mode == "auto":
            mode = "markdown" if getattr(self.magic.shell, "kernel", None) else "text"
        return MarkdownView() if mode == "markdown" else TextView()

    def open(self, body: dict[str, Any], view: AnswerView) -> Any:
        """Send the request, retrying where it helps and adapting parameters a model refuses."""
        import openai

        view.status(f"Asking {self.request.model} at {self.endpoint.host}…")
        sdk = sdk_for(self.session, self.endpoint)

        while True:
            try:
                return call_with_retries(
                    functools.partial(open_chat, sdk, body),
                    max_retries=self.magic.max_retries,
                    on_retry=view.status,
                    host=self.endpoint.host,
                )
            except openai.APIError as exc:
                adaptation = compat.adaptation_for(exc, body)
                if adaptation is None:
                    raise GPTMagicError(self.explain(exc)) from None
                self.adaptations().add(adaptation)
                self.notes.append(
                    f"{self.request.model} {compat.EXPLANATIONS[adaptation]} "
                    "(remembered for this model in this kernel)."
                )
                body = self.body(body["messages"])
            except Exception as exc:  # refused before sending (a header, a URL): one line
                raise GPTMagicError(self.explain(exc)) from None

    def explain(self, exc: BaseException) -> str:
        return explain(
            exc,
            host=self.endpoint.host,
            model=self.request.model,
            timeout=self.endpoint.timeout,
            secrets=known_secrets(self.session),
        )

    def stream(self, body: dict[str, Any], view: AnswerView) -> tuple[Collected, str, str]:
        """Collect the answer; the outcome is complete, interrupted or incomplete."""
        from .client import transport_errors

        collected = Collected()
        try:
            response = self.cached.replay(view, self.notes) or self.open(body, view)
        except KeyboardInterrupt:
            raise InterruptedAnswer(
                "Interrupted before the answer started; nothing was sent to the history."
            ) from None
        outcome, cause = "complete", ""
        try:
            for event in response:
                collected.add(event, view)
        except KeyboardInterrupt:
            outcome = "interrupted"
        except transport_errors() as exc:
            outcome, cause = "incomplete", self.explain_break(exc)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        if outcome == "complete" and not collected.finished():
            outcome = "incomplete"
            cause = "the stream ended before the answer was finished (connection dropped)"
        return collected, outcome, cause

    def explain_break(self, exc: BaseException) -> str:
        """Why a stream that had started did not finish (the answer so far is kept)."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return (
                f"the server sent nothing for {self.endpoint.timeout:g} s "
                "(GPTMagic.timeout; raise it for slow models)"
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = connection_cause(exc)
            detail = f" ({cause})" if cause else ""
            text = f"the connection to {self.endpoint.host} dropped mid-answer{detail}"
            return redact(text, known_secrets(self.session))
        if isinstance(exc, openai.APIError):
            return self.explain(exc)
        if isinstance(exc, json.JSONDecodeError):
            return "the server sent a malformed chunk"
        return redact(f"the stream broke: {type(exc).__name__}: {exc}", known_secrets(self.session))

    # -- the end ------------------------------------------------------------------------
    def finish(
        self, plan: Plan, collected: Collected, outcome: str, cause: str, view: AnswerView
    ) -> None:
        r, session = self.request, self.session
        # A key echoed in an answer stays out of the output, history, variables and cache.
        answers = [redact(a, known_secrets(session), urls=False) for a in collected.answers()]
        reasons = [collected.finishes.get(i) for i in range(len(answers))]
        estimate = sum(estimate_tokens(a) for a in answers)
        session.usage.add(UsageRecord("chat", r.model, collected.usage, estimated_tokens=estimate))
        self.notes += self.outcome_notes(outcome, cause, answers, reasons)
        footer = None
        if self.magic.show_usage:
            footer = usage_footer(
                collected.model or r.model,
                collected.usage,
                session.usage.total.total_tokens,
                estimate,
            )
        meta = provenance(
            model=collected.model or r.model,
            host=self.endpoint.host,
            parameters=r.parameters(),
            usage=collected.usage,
            finish_reasons=reasons,
            status=outcome,
            notes=self.notes,
            footer=footer,
            **self.cached.provenance(),
        )
        view.finish(answer_bundle(answers, self.notes, footer), {"gptmagic": meta})
        if outcome != "incomplete" and r.use_history and answers[0]:
            completion = collected.usage.completion_tokens if collected.usage else 0
            message = Message(
                "assistant",
                answers[0],
                tokens=completion if r.n == 1 and completion else 0,
                tokens_exact=bool(completion and r.n == 1),
                meta=meta,
            )
            prompt_tokens = collected.usage.prompt_tokens if collected.usage else None
            session.conversation.commit(plan, message, prompt_tokens)
        if r.out and outcome != "incomplete":
            self.magic.shell.user_ns[r.out] = answers[0] if r.n == 1 else answers
        if r.code and outcome == "complete":
            from .codecells import deliver

            deliver(self.magic, r.prompt, answers[0], r.out)
        if outcome == "complete":
            self.cached.store(cache.chat_answer(answers, reasons, collected.usage, collected.model))
        if outcome == "interrupted":
            raise InterruptedAnswer(
                "Interrupted: the partial answer is shown and kept in the history, marked "
                "as interrupted."
            )
        if outcome == "incomplete":
            raise GPTMagicError(
                f"The answer is incomplete: {cause}. It was not stored; re-run the cell."
            )

    def outcome_notes(
        self, outcome: str, cause: str, answers: list[str], reasons: list[str | None]
    ) -> list[str]:
        r, notes = self.request, []
        if outcome == "interrupted":
            notes.append("⏹ Interrupted: partial answer (kept in the history, marked).")
        elif outcome == "incomplete":
            notes.append(f"⚠ Incomplete: {cause}. Not stored in the history.")
        if "length" in reasons:
            notes.append(
                f"✂ The answer was cut by max_tokens = {r.max_tokens} (finish_reason: length); "
                "raise --max-tokens for a longer answer."
            )
        if r.n > 1 and len(answers) < r.n and outcome == "complete":
            notes.append(
                f"Asked for {r.n} answers; the server returned {len(answers)} "
                "(it ignores n). The first is kept in the history."
            )
        return notes

    def show_dry_run(self, body: dict[str, Any]) -> None:
        from IPython.display import display

        tokens = sum(estimate_tokens(m["content"]) + 4 for m in body["messages"])
        text = json.dumps(body, indent=2, ensure_ascii=False)
        summary = (
            f"Dry run: nothing sent. POST {self.endpoint.base_url}/chat/completions, "
            f"≈{tokens:,} prompt tokens (estimate)."
        )
        display(
            {"text/markdown": f"{summary}\n\n```json\n{text}\n```", "text/plain": text},
            raw=True,
            metadata={"gptmagic": {"dry_run": True, "estimated_prompt_tokens": tokens}},
        )
