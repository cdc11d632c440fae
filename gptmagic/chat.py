"""One ``%%gpt`` cell from prompt to stored turn.

The order matters for consistency: validate and plan first (nothing sent on bad input),
stream into the view, then record usage, show the final output and only then commit the turn
to the conversation. A failed request leaves the history as it was; an interrupted answer is
kept, marked ``interrupted``; a broken stream is shown as incomplete and not stored; an
answer that finished without any text is shown as empty, not stored, and fails the cell.

With ``--tools`` an answer may call data tools instead: each call runs (read-only) on the
kernel's values, is shown as one line, and the results go back in the next request, up to
``tools.MAX_ROUNDS`` rounds; the turn stored is the whole exchange (see toolloop.py).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import cache
from .apikey import known_secrets
from .backends import backend_for, events, request_url
from .backends.events import Delta, Finish, MalformedChunk, Reasoning, Reported, ToolCall
from .client import public_url, sdk_for
from .content import Content, message_tokens, text_of
from .conversation import Message, Plan
from .dryrun import show_dry_run
from .errors import (
    GPTMagicError,
    InterruptedAnswer,
    connection_cause,
    context_too_long,
    redact,
)
from .files import without_lone_surrogates
from .outcome import Outcome, abandoned, failure
from .outcome import notes as outcome_notes
from .render import answer_bundle, call_line, provenance, usage_footer
from .retrying import call_with_retries
from .streaming import AnswerView, MarkdownView, TextView
from .tokens import estimate_tokens
from .toolloop import ToolRound, listed_calls, refuses_tools, run_calls
from .usage import Usage, UsageRecord

if TYPE_CHECKING:
    from .settings import CellContext


@dataclass
class CellRequest:
    """What one cell asks for, after cell options were laid over the kernel's settings."""

    prompt: Content  # the user message: text, or parts when it carries images ({fig})
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
    reasoning: str | None = None  # --reasoning: effort of a reasoning model (Responses API)
    images: list[str] = field(default_factory=list)  # the {name} of each image in the prompt
    tools: bool = False  # --tools: the model may call the read-only data tools
    calls_as_typed: list[str] = field(default_factory=list)  # {df.head()}: sent as typed

    @classmethod
    def from_args(cls, settings: Any, args: Any, prompt: str) -> CellRequest:
        """The cell's options laid over ``settings`` (a :class:`~gptmagic.settings.Snapshot`)."""

        def pick(value: Any, default: Any) -> Any:
            return default if value is None else value  # 0 and 0.0 are real choices

        return cls(
            prompt=prompt,
            model=pick(args.model, settings.model),
            temperature=pick(args.temperature, settings.temperature),
            top_p=pick(args.top_p, settings.top_p),
            max_tokens=pick(args.max_tokens, settings.max_tokens),
            n=args.n,
            stream=settings.stream and not args.no_stream,
            use_history=not args.no_history,
            out=args.out,
            dry_run=args.dry_run,
            code=args.code,
            system=args.system,
            new=args.new,
            reasoning=pick(args.reasoning, settings.reasoning),
            tools=args.tools or settings.tools,
        )

    def parameters(self) -> dict[str, Any]:
        tools = {"tools": True} if self.tools else {}  # absent when off: old keys stay valid
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "n": self.n,
            "stream": self.stream,
            "reasoning": self.reasoning,
            **tools,
        }


@dataclass
class Collected:
    """Everything a stream delivered, whether or not it finished."""

    texts: dict[int, list[str]] = field(default_factory=dict)
    finishes: dict[int, str] = field(default_factory=dict)
    usage: Usage | None = None
    model: str | None = None
    notes: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)  # a reasoning model's summary
    tool_calls: list[ToolCall] = field(default_factory=list)
    answered: bool = False  # the server took the request and began its answer

    def add(self, event: Any, view: AnswerView) -> None:
        if isinstance(event, Delta):
            text = without_lone_surrogates(event.text)  # e.g. from a hand-edited cache file
            self.texts.setdefault(event.index, []).append(text)
            view.append(event.index, text)
        elif isinstance(event, Finish):
            self.finishes[event.index] = event.reason
        elif isinstance(event, Reported):
            self.usage, self.model = event.usage or self.usage, event.model or self.model
            if event.note and event.note not in self.notes:
                self.notes.append(event.note)
        elif isinstance(event, Reasoning):
            self.reasoning.append(event.text)
        elif isinstance(event, ToolCall):
            self.tool_calls.append(event)

    def answers(self) -> list[str]:
        """One text per answer number up to the highest seen (a missing one is empty)."""
        last = max([*self.texts, *self.finishes], default=0)
        return ["".join(self.texts.get(i, ())) for i in range(last + 1)]

    def finished(self) -> bool:
        return bool(self.finishes) and all(i in self.finishes for i in self.texts)


class ChatCell:
    """Runs one chat request in ``ctx`` and keeps the kernel's state consistent."""

    def __init__(self, ctx: CellContext, request: CellRequest):
        self.ctx, self.settings, self.request = ctx, ctx.settings, request
        self.session = ctx.session
        self.endpoint = ctx.endpoint
        self.backend = backend_for(self.settings.api)
        self.messages: list[dict[str, Any]] = []  # neutral messages; bodies are built from them
        self.notes: list[str] = []
        self.rerun_helps = True  # for a broken stream: False when the cause says what to do
        self.rounds: list[ToolRound] = []  # --tools: the calls made before the answer
        self.first_usage: Usage | None = None  # the first request's (it sent no tool steps)
        self.prompts: list[int] = []  # --tools: each request's estimated prompt, as sent
        self.cut_round: Usage | None = None  # --tools: the estimate of a later round cut short

    # -- the steps ----------------------------------------------------------------------
    def run(self) -> None:
        request, session = self.request, self.session
        if refusal := session.usage.budget_refusal(self.settings.token_budget):
            raise GPTMagicError(refusal)
        if request.tools and request.n != 1:
            raise GPTMagicError(
                f"--tools gives one answer per cell, so -n {request.n} cannot go with it."
            )
        plan = session.conversation.plan(
            request.prompt,
            budget=self.settings.history_max_tokens,
            use_history=request.use_history,
            system=request.system,
            fresh=request.new,
        )
        if plan.dropped_turns:
            self.notes.append(
                f"Dropped the {plan.dropped_turns} oldest turn(s) (≈{plan.dropped_tokens:,} "
                f"tokens) to keep the history within history_max_tokens = "
                f"{self.settings.history_max_tokens:,}."
            )
        self.messages = plan.messages
        body = self.body()
        if request.dry_run:
            url = public_url(request_url(self.endpoint, self.backend.path, request.model))
            show_dry_run(self.messages, body, url, request.images)
            return
        self.cached = cache.for_chat(
            self.ctx, self.endpoint.host, request, plan.messages, self.backend.name
        )
        view = self.make_view()
        collected, outcome, cause = self.converse(body, view)
        self.finish(plan, collected, outcome, cause, view)

    def converse(self, body: dict[str, Any], view: AnswerView) -> tuple[Collected, str, str]:
        """Ask; while the model calls tools (``--tools``), run them, show each call's line and
        ask again with the results. The last answer is the cell's; usage is summed."""
        from .tools import MAX_ROUNDS, round_limit_reached

        if self.cached.hit:  # the recorded rounds, shown again; nothing is run
            for data in self.cached.answer.get("tool_rounds", ()):
                self.add_round(ToolRound.from_dict(data), view, replayed=True)
            return self.stream(body, view)
        self.prompts.append(request_tokens(self.messages))
        collected, outcome, cause = self.stream(body, view)
        self.first_usage, spent = collected.usage, [collected.usage]
        while self.request.tools and outcome == "complete" and collected.tool_calls:
            if len(self.rounds) > MAX_ROUNDS:  # told to answer, it still called tools
                self.rerun_helps = False
                cause = (
                    f"the model still called tools after the limit of {MAX_ROUNDS} tool "
                    "rounds, when told to answer; ask a narrower question"
                )
                outcome = "incomplete"
                break
            earlier = collected
            try:
                number, said = len(self.rounds) + 1, "".join(collected.texts.get(0, ()))
                text = redact(said, known_secrets(self.session), urls=False)
                refused = round_limit_reached(len(self.rounds))
                view.flush()  # the words before the calls, on screen while they run
                calls = run_calls(self.ctx, text, collected.tool_calls, number, refused=refused)
                self.add_round(calls, view)
                self.check_budget(spent, view)
                self.prompts.append(request_tokens(self.messages))
                collected, outcome, cause = self.stream(self.body(), view, later=True)
                if outcome != "complete" and summed(spent) is not None:
                    self.count_cut_round(collected, outcome)
            except KeyboardInterrupt:  # while a tool ran
                collected, outcome, cause = Collected(), "interrupted", ""
            except GPTMagicError:  # the earlier rounds were billed: count them
                if (usage := summed(spent)) is not None:
                    record = UsageRecord("chat", self.request.model, usage, status="failed")
                    self.session.usage.add(record)
                raise
            collected.notes = earlier.notes + collected.notes
            between = [events.REASONING_BREAK] if earlier.reasoning and collected.reasoning else []
            collected.reasoning = earlier.reasoning + between + collected.reasoning
            spent.append(collected.usage)
        collected.usage = summed(spent)
        return collected, outcome, cause

    def count_cut_round(self, collected: Collected, status: str) -> None:
        """A later round cut short (interrupted, broken) after the server began it was billed
        but never reported: its estimate (this round's prompt, with the tool results, and its
        text so far) counts as a record of its own, as a cut-short answer's does; the cell's
        record keeps the earlier rounds as reported."""
        if collected.usage is not None or not collected.answered:
            return
        prompt = request_tokens(self.messages)
        completion = sum(estimate_tokens(a) for a in collected.answers())
        estimate = Usage(prompt, completion, prompt + completion)
        record = UsageRecord("chat", self.request.model, None, estimate=estimate, status=status)
        self.session.usage.add(record)
        self.cut_round = estimate  # part of what the cell cost: its footer says so

    def check_budget(self, spent: list[Usage | None], view: AnswerView) -> None:
        """``token_budget`` holds between tool rounds too: the rounds so far count."""
        budget, pending = self.settings.token_budget, summed(spent)
        used = self.session.usage.total.total_tokens + (pending.total_tokens if pending else 0)
        if budget is not None and used >= budget:
            view.discard()
            raise GPTMagicError(
                f"Token budget reached during the tool rounds: {used:,} of GPTMagic.token_budget"
                f" = {budget:,} tokens (the rounds so far are counted); nothing more was sent. "
                "Raise it with %config, or reset the count with %gpt usage --reset."
            )

    def add_round(self, done: ToolRound, view: AnswerView, replayed: bool = False) -> None:
        """A round's calls become steps of the turn and lines in the cell, after what the
        model said beside them (streamed already, unless ``replayed``). The final output
        shows them again in the same order (:meth:`ToolRound.shown`); they are not notes."""
        self.rounds.append(done)
        self.messages = self.messages + [m.to_api() for m in done.steps()]
        from .progress import in_notebook

        if replayed and done.text.strip():
            view.append(0, done.text)
        quote = call_line if in_notebook(self.ctx) else "> {}".format  # a terminal: as is
        for line in done.summaries():
            view.append(0, f"\n\n{quote(line)}\n\n")
        view.flush()  # on screen while the next answer is awaited, not 1/8 s later

    def body(self) -> dict[str, Any]:
        """The request body in the backend's shape, as this (host, model) accepts it."""
        return self.backend.body(self.request, self.messages, self.adaptations())

    def adaptations(self) -> set[str]:
        key = (self.endpoint.host, self.request.model, self.backend.name)
        return self.session.compat.setdefault(key, set())

    def make_view(self) -> AnswerView:
        """The cell's view; a key echoed in the answer is hidden while it streams too."""
        from .livemask import masked
        from .progress import in_notebook

        view = MarkdownView() if in_notebook(self.ctx) else TextView()
        return masked(view, known_secrets(self.session))

    def open(self, body: dict[str, Any], view: AnswerView) -> Any:
        """Send the request, retrying where it helps and adapting parameters a model refuses."""
        import openai

        sdk = sdk_for(self.session, self.endpoint)  # a missing address fails before "Asking"
        view.status(f"Asking {self.request.model} at {self.endpoint.host}…")

        while True:
            try:
                return call_with_retries(
                    functools.partial(self.backend.open, sdk, body),
                    max_retries=self.settings.max_retries,
                    on_retry=view.status,
                    host=self.endpoint.host,
                )
            except MalformedChunk as exc:  # a non-streamed answer of the wrong shape
                text = f"{self.endpoint.host} sent an answer gptmagic cannot read: {exc}. "
                raise GPTMagicError(
                    redact(text + "Nothing was stored.", known_secrets(self.session))
                ) from None
            except openai.APIError as exc:
                if refusal := self.image_refusal(exc, body):
                    raise GPTMagicError(refusal) from None
                adaptation = self.backend.adaptation_for(exc, body)
                if adaptation is None and self.request.tools and refuses_tools(exc):
                    raise GPTMagicError(
                        f"{self.request.model} at {self.endpoint.host} does not support tools "
                        "(function calling): --tools needs a model with function calling. "
                        "Ask without --tools, or choose another model with -m."
                    ) from None
                if adaptation is None:
                    raise GPTMagicError(self.explain(exc, sdk)) from None
                self.adaptations().add(adaptation)
                self.notes.append(
                    f"{self.request.model} {self.backend.explanations[adaptation]} "
                    "(remembered for this model in this kernel)."
                )
                body = self.body()
            except Exception as exc:  # refused before sending (a header, a URL): one line
                raise GPTMagicError(self.explain(exc)) from None

    def image_refusal(self, exc: BaseException, body: dict[str, Any]) -> str | None:
        """One line when a model or server refuses the images sent (this cell's or an earlier
        turn's); None when the request holds none or the error is about something else."""
        from .content import image_parts

        if not any(image_parts(m["content"]) for m in self.messages):
            return None
        from .pictures import explain_image_refusal

        line = explain_image_refusal(
            exc,
            model=self.request.model,
            host=self.endpoint.host,
            labels=self.request.images,
            body=body,
        )
        if line and not self.request.images:  # the image is in an earlier turn
            line += " The image is in an earlier turn: leave it out with --no-history or --new."
        return line

    def explain(self, exc: BaseException, sdk: Any = None) -> str:
        from .diagnosis import explain_failure

        return explain_failure(
            exc,
            endpoint=self.endpoint,
            model=self.request.model,
            secrets=known_secrets(self.session),
            sdk=sdk,
        )

    def stream(
        self, body: dict[str, Any], view: AnswerView, later: bool = False
    ) -> tuple[Collected, str, str]:
        """Collect the answer; the outcome is complete, interrupted or incomplete. A ``later``
        request of a tool loop interrupted before it answers ends the cell as interrupted
        (the rounds so far stay shown, and counted)."""
        from .transport import transport_errors

        collected = Collected()
        try:
            response = self.cached.replay(view, self.notes) or self.open(body, view)
        except KeyboardInterrupt:
            if later:
                return collected, "interrupted", ""
            view.discard()
            raise InterruptedAnswer(
                "Interrupted before the answer started; nothing was stored in the history."
            ) from None
        except Exception:
            view.discard()  # the error raised is the outcome; no "Asking…" line stays behind
            raise
        outcome, cause = "complete", ""
        collected.answered = True
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
            if collected.texts:
                cause = "the stream ended before the answer was finished (connection dropped)"
            else:
                self.rerun_helps = False
                cause = self.nothing_sent(getattr(response, "content_type", None))
        if outcome == "complete" and (gave_up := abandoned(list(collected.finishes.values()))):
            outcome, cause = "incomplete", gave_up
        if outcome == "complete" and (unusable := self.unusable_calls(collected)):
            outcome, cause = "incomplete", unusable
        return collected, outcome, cause

    def nothing_sent(self, kind: str | None) -> str:
        """Why a stream that ended with no event at all gave nothing: a server that sent
        something other than an event stream (a proxy's or web server's text page) is not
        an API; an event stream with no event is how some servers end a too-long prompt."""
        if kind and "event-stream" not in kind.lower():
            url = public_url(self.endpoint.base_url)
            return (
                f"{self.endpoint.host} answered with {kind.split(';')[0].strip()}, not an event "
                f"stream, and nothing gptmagic could read: check that GPTMagic.base_url ({url}) "
                "is an OpenAI-compatible API"
            )
        return (
            "the server ended its answer without sending anything. If the prompt and "
            "history are long, they may exceed the model's context (some servers then "
            "send nothing): shorten them with %gpt reset or --no-history; otherwise "
            "re-run the cell"
        )

    def unusable_calls(self, collected: Collected) -> str:
        """Why the tool calls of a finished answer cannot be answered, or "": some servers
        return calls though no tools were offered (no ``--tools``; nothing is run), or end
        with finish_reason "tool_calls" and send no call. Either way the answer is not one."""
        if collected.tool_calls and not self.request.tools:
            names = ", ".join(dict.fromkeys(call.name or "?" for call in collected.tool_calls))
            self.rerun_helps = False  # the cause says what to do
            return redact(
                f"the model asked to call tools that were not offered ({names}), so nothing "
                "was run; ask again with --tools to let it use the data tools, or re-run the "
                "cell",
                known_secrets(self.session),
                urls=False,
            )
        if collected.tool_calls and "length" in collected.finishes.values():
            # The calls were still being written when the limit struck: their arguments may
            # be cut (or the last call missing), so none is run.
            names = ", ".join(dict.fromkeys(call.name or "?" for call in collected.tool_calls))
            limit = self.request.max_tokens
            self.rerun_helps = False  # the same limit would cut them again
            fix = "raise --max-tokens" if limit is not None else "shorten the history or prompt"
            return redact(
                f"the answer was cut (finish_reason: length"
                f"{f', max_tokens = {limit}' if limit is not None else ''}) while the model "
                f"was writing its tool calls ({names}), so none was run; {fix} and re-run",
                known_secrets(self.session),
                urls=False,
            )
        if "tool_calls" in collected.finishes.values() and not collected.tool_calls:
            return (
                "the model ended its answer to call tools (finish_reason: tool_calls), but no "
                "tool call arrived"
            )
        return ""

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
            self.rerun_helps = not context_too_long(exc)
            return self.explain(exc).rstrip(".")
        if isinstance(exc, MalformedChunk):  # quotes the server's value: masked
            return redact(f"the server sent a malformed chunk ({exc})", known_secrets(self.session))
        if isinstance(exc, json.JSONDecodeError):
            return "the server sent a malformed chunk (not JSON)"
        return redact(f"the stream broke: {type(exc).__name__}: {exc}", known_secrets(self.session))

    # -- the end ------------------------------------------------------------------------
    def finish(
        self, plan: Plan, collected: Collected, outcome: str, cause: str, view: AnswerView
    ) -> None:
        """The end of a cell: its outcome as a plain value, shown, then recorded; the cell
        fails unless the answer is complete."""
        result = self.outcome(collected, outcome, cause)
        record = self.usage_record(plan, collected, result.answers, result.status)
        self.session.usage.add(record)
        meta = self.present(result, collected, record, view)
        self.record(plan, result, collected, meta)
        if error := failure(result, self.request, self.endpoint.host, self.rerun_helps):
            raise error

    def outcome(self, collected: Collected, status: str, cause: str) -> Outcome:
        """What the stream amounts to: the answers (a key echoed in them masked, so it stays
        out of the output, history, variables and cache), their finish reasons, the status
        (an answer that finished with no text is ``empty``) and the answer the history keeps."""
        secrets = known_secrets(self.session)
        answers = [redact(a, secrets, urls=False) for a in collected.answers()]
        reasons = [collected.finishes.get(i) for i in range(len(answers))]
        return Outcome.of(answers, reasons, status, cause)

    def present(
        self, result: Outcome, collected: Collected, record: UsageRecord, view: AnswerView
    ) -> dict[str, Any]:
        """Notes, footer and provenance, shown as the cell's one final output; returns the
        provenance (the history keeps it with the answer)."""
        r, session = self.request, self.session
        self.notes += collected.notes
        self.notes += outcome_notes(result, r)
        if summary := reasoning_note(collected.reasoning, known_secrets(session)):
            self.notes.append(summary)
        footer = None
        if self.settings.show_usage:
            model = collected.model or r.model
            footer = usage_footer(model, record, session.usage, cut=self.cut_round)
        calls = {"tool_calls": listed_calls(self.rounds)} if self.rounds else {}
        meta = provenance(
            model=collected.model or r.model,
            host=self.endpoint.host,
            parameters=r.parameters(),
            usage=collected.usage,
            finish_reasons=result.reasons,
            status=result.status,
            notes=self.notes,
            footer=footer,
            **calls,
            **self.cached.provenance(),
        )
        if record.usage is None and record.counted is not None:
            meta["estimated_usage"] = record.counted.to_dict()
        elif self.cut_round is not None:  # beside the reported rounds: the cut one's estimate
            meta["estimated_usage"] = self.cut_round.to_dict()
        said = [block for done in self.rounds for block in done.shown()]
        bundle = answer_bundle(result.answers, self.notes, footer, said)
        view.finish(bundle, {"gptmagic": meta})
        return meta

    def record(
        self, plan: Plan, result: Outcome, collected: Collected, meta: dict[str, Any]
    ) -> None:
        """Keep what the outcome allows: the turn in the history, ``-o`` variables, ``--code``
        cells, and (complete answers only) the replay cache."""
        r, answers, kept = self.request, result.answers, result.kept
        usable = result.status in ("complete", "interrupted") and kept is not None
        if usable and r.use_history:
            self.commit(plan, answers[kept], collected, meta)
        if r.out and usable:
            self.ctx.shell.user_ns[r.out] = answers[0] if r.n == 1 else answers
        if r.code and result.status == "complete":
            from .codecells import deliver

            deliver(self.ctx, text_of(r.prompt), answers[kept], r.out)
        if result.status == "complete":
            rounds = [done.to_dict() for done in self.rounds]
            summary = "".join(collected.reasoning)  # a reasoning model's, replayed with it
            answer = cache.chat_answer(
                answers, result.reasons, collected.usage, collected.model, rounds, summary
            )
            self.cached.store(answer)

    def commit(self, plan: Plan, text: str, collected: Collected, meta: dict[str, Any]) -> None:
        """Store the turn (with its tool steps) in the conversation."""
        completion = collected.usage.completion_tokens if collected.usage else 0
        exact = bool(completion and self.request.n == 1 and not self.rounds)  # else: summed
        message = Message(
            "assistant", text, tokens=completion if exact else 0, tokens_exact=exact, meta=meta
        )
        # The first request's prompt count sizes the user message (None in a replay of tool
        # rounds: the recorded usage is their sum).
        first = self.first_usage if self.rounds else collected.usage
        prompt_tokens = first.prompt_tokens if first else None
        steps = [m for done in self.rounds for m in done.steps()]
        self.session.conversation.commit(plan, message, prompt_tokens, steps)

    def usage_record(
        self, plan: Plan, collected: Collected, answers: list[str], outcome: str
    ) -> UsageRecord:
        """This answer's usage: reported, or estimated, or replayed. The estimate covers every
        request the cell sent (with --tools, each round's prompt with the results so far, and
        the words and calls the model wrote before the answer)."""
        prompt = sum(self.prompts) or request_tokens(plan.messages)
        completion = sum(estimate_tokens(a) for a in answers)
        completion += sum(round_tokens(done) for done in self.rounds)
        status = "replayed" if self.cached.hit else outcome
        return UsageRecord(
            "chat",
            self.request.model,
            collected.usage,
            estimate=Usage(prompt, completion, prompt + completion),
            status=status,
        )


def request_tokens(messages: list[dict[str, Any]]) -> int:
    """The estimated prompt of a request: its messages, with the tool calls they carry."""
    return sum(
        message_tokens(m.get("content") or "") + calls_tokens(m.get("tool_calls") or [])
        for m in messages
    )


def round_tokens(done: ToolRound) -> int:
    """What the model wrote in a tool round, estimated: its words and its calls."""
    return estimate_tokens(done.text) + calls_tokens(done.calls)


def calls_tokens(calls: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(f"{call['name']}{call['arguments']}") for call in calls)


def summed(usages: list[Usage | None]) -> Usage | None:
    """The usage of a tool loop's requests together (None when none was reported)."""
    reported = [u for u in usages if u is not None]
    return sum(reported[1:], reported[0]) if reported else None


REASONING_CHARS = 600  # the summary is a hint of how the model got there, not a second answer


def reasoning_note(pieces: list[str], secrets: list[Any]) -> str:
    """One note line with a reasoning model's summary (whitespace folded, capped), or ""."""
    text = " ".join("".join(pieces).split())
    if not text:
        return ""
    if len(text) > REASONING_CHARS:
        text = text[: REASONING_CHARS - 1] + "…"
    return "💭 Reasoning summary: " + redact(text, secrets, urls=False)
