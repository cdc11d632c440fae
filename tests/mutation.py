"""Hand-written mutation testing: plausible one-line bugs that the test suite must catch.

    python tests/mutation.py                      # every module
    python tests/mutation.py --module retrying    # one module (repeat --module for more)
    python tests/mutation.py --list               # the mutants, without running anything
    python tests/mutation.py --match "oldest" --tests test_chat.py   # does this file kill it?

Each mutant replaces one exact snippet of a module with a bug that breaks a promise of the
README. It is applied to a temporary copy of the repository (never to the working tree), and
only the test files named for it run, with ``-x -q`` and a time limit: a failing run kills the
mutant, a passing one lets it survive. A mutant whose snippet no longer occurs exactly once
(the code was refactored) is reported as *stale*: update its snippet, it is not counted.

Hand-written rather than generated (mutmut): each mutant is a bug someone could plausibly
write, runs against the few files that pin it (a full run takes minutes, not hours), and
survivors are few enough to read one by one. ``EQUIVALENT`` lists the ones that cannot be
killed, and why.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ("chat", "conversation", "retrying", "errors", "usage", "context", "cache", "codecells")
CORE += ("compat", "outcome", "streaming")


@dataclass(frozen=True)
class Mutant:
    module: str  # gptmagic/<module>.py, or where PATHS says it moved
    original: str  # must occur exactly once in the module
    replacement: str
    bug: str  # the promise it breaks
    tests: tuple[str, ...] = ()  # test files to run; default: TESTS[module]


PATHS = {
    "compat": "backends/chat_completions.py",
    "responses": "backends/responses.py",
    "azure": "backends/azure.py",
    "fields": "backends/fields.py",
    "events": "backends/events.py",
    "providers": "backends/__init__.py",
    "runner": "tools/runner.py",
    "views": "tools/views.py",
    "specs": "tools/specs.py",
}


def source_path(root: Path, module: str) -> Path:
    return root / "gptmagic" / PATHS.get(module, f"{module}.py")


# Unit tests first: with -x most mutants die in well under a second.
TESTS = {
    "chat": (
        "test_chat.py",
        "test_reliability.py",
        "test_outcomes.py",
        "test_codecells.py",
        "test_cache.py",
    ),
    "outcome": ("test_outcomes.py", "test_chat.py", "test_reliability.py"),
    "conversation": ("test_unit_conversation.py", "test_chat.py"),
    "retrying": ("test_retrying.py", "test_reliability.py"),
    "errors": ("test_unit_errors.py", "test_reliability.py", "test_secrets.py", "test_chat.py"),
    "usage": ("test_unit_usage.py", "test_usage.py", "test_chat.py", "test_commands.py"),
    "context": ("test_unit_context.py", "test_context.py", "test_secrets.py"),
    "cache": ("test_unit_cache.py", "test_cache.py"),
    "codecells": ("test_unit_codecells.py", "test_codecells.py"),
    "compat": ("test_unit_chat_completions.py", "test_reliability.py"),
    "describe": ("test_unit_describe.py", "test_context.py"),
    "streaming": ("test_streaming.py", "test_chat.py"),
    "responses": ("test_backend_responses.py", "test_apis.py"),
    "livemask": ("test_livemask.py",),
    "images": ("test_images.py", "test_cache.py", "test_outcomes.py", "test_reliability.py"),
    "progress": ("test_images.py", "test_reliability.py"),
    # -- tools and the tool loop
    "runner": ("test_tools.py", "test_tools_chat.py"),
    "views": ("test_tools.py", "test_tools_chat.py"),
    "specs": ("test_tools.py", "test_tools_chat.py"),
    "toolloop": ("test_tools_chat.py",),
    "panel": ("test_panel.py",),
    # -- backends, client, transport, key
    "azure": ("test_backend_azure.py", "test_apis.py", "test_proxy.py"),
    "fields": ("test_unit_chat_completions.py", "test_backend_responses.py", "test_outcomes.py"),
    "events": ("test_backend_responses.py", "test_apis.py"),
    # -- commands, arguments, settings, session, last error, hooks
    "commands": (
        "test_commands.py",
        "test_chat.py",
        "test_secrets.py",
        "test_apis.py",
    ),
    "arguments": ("test_chat.py", "test_commands.py"),
    "settings": ("test_chat.py", "test_cache.py", "test_url_credentials.py", "test_retrying.py"),
    "session": ("test_chat.py", "test_secrets.py", "test_commands.py"),
    "lasterror": ("test_context.py",),
    "hooks": ("test_context.py", "test_codecells.py"),
    "client": (
        "test_url_credentials.py",
        "test_secrets.py",
        "test_apis.py",
        "test_proxy.py",
        "test_reliability.py",
        "test_diagnosis.py",
    ),
    "transport": (
        "test_reliability.py",
        "test_outcomes.py",
        "test_backend_responses.py",
        "test_images.py",
    ),
    "apikey": (
        "test_secrets.py",
        "test_url_credentials.py",
        "test_apis.py",
        "test_commands.py",
    ),
    "diagnosis": (
        "test_diagnosis.py",
        "test_proxy.py",
        "test_url_credentials.py",
        "test_apis.py",
        "test_reliability.py",
    ),
    "providers": ("test_backend_azure.py", "test_apis.py", "test_secrets.py"),
    # -- pictures, exports, files, rendering
    "pictures": ("test_pictures.py", "test_figs.py"),
    "export": (
        "test_commands.py",
        "test_provenance.py",
        "test_figs.py",
        "test_inert_html.py",
        "test_tools_chat.py",
    ),
    "files": ("test_files.py", "test_commands.py"),
    "render": ("test_inert_html.py", "test_provenance.py", "test_chat.py"),
    "dryrun": ("test_dry_run.py", "test_figs.py", "test_url_credentials.py"),
    "content": ("test_figs.py", "test_pictures.py", "test_cache.py"),
}

M = Mutant
MUTANTS = [
    # -- conversation: which turns are sent and kept -------------------------------------------
    M(
        "conversation",
        "for turn in reversed(self.turns):",
        "for turn in self.turns:",
        "trimming keeps the oldest turns instead of the newest",
    ),
    M(
        "conversation",
        "if room is not None and turn.tokens > room:",
        "if room is not None and turn.tokens >= room:",
        "a turn that exactly fits the budget is dropped",
    ),
    M(
        "conversation",
        "                    break\n                kept.append(turn)",
        "                    continue\n                kept.append(turn)",
        "trimming skips a big turn and sends older ones out of order",
    ),
    M("conversation", "            kept.reverse()\n", "", "kept turns are sent newest first"),
    M(
        "conversation",
        "fixed = sum(m.tokens for m in head) + user.tokens",
        "fixed = sum(m.tokens for m in head)",
        "the prompt's own size is left out of the budget",
    ),
    M(
        "conversation",
        "                    room -= turn.tokens",
        "                    room -= 0",
        "the budget is not spent by the turns kept",
    ),
    M(
        "conversation",
        "del self.turns[: plan.dropped_turns]",
        "pass",
        "trimmed turns stay in the stored history",
    ),
    M(
        "conversation",
        "dropped = self.turns[: len(self.turns) - len(kept)]",
        "dropped = self.turns[len(kept) :]",
        "the wrong turns are counted (and forgotten) as dropped",
    ),
    M(
        "conversation",
        "        if plan.fresh:\n            self.turns.clear()",
        "        if plan.fresh:\n            pass",
        "--new does not forget the turns before",
    ),
    M(
        "conversation",
        "        self.system = plan.system\n",
        "",
        "-s does not become the conversation's system prompt",
    ),
    M(
        "conversation",
        "            if own > 0:",
        "            if own >= 0:",
        "a server count no larger than the context zeroes the prompt's size",
    ),
    M(
        "conversation",
        "context_tokens=fixed - user.tokens + sum(t.tokens for t in kept)",
        "context_tokens=fixed + sum(t.tokens for t in kept)",
        "the prompt's measured size includes itself twice",
    ),
    M(
        "conversation",
        '"""Forget the turns; the system prompt stays."""\n        self.turns.clear()',
        '"""Forget the turns; the system prompt stays."""\n        self.turns.clear()\n'
        '        self.system = ""',
        "%gpt reset forgets the system prompt",
    ),
    # -- retrying: what is retried, how long it waits ------------------------------------------
    M(
        "retrying",
        "RETRY_STATUSES = {408, 409, 429}",
        "RETRY_STATUSES = {409, 429}",
        "408 (request timeout) is not retried",
    ),
    M(
        "retrying",
        "RETRY_STATUSES = {408, 409, 429}",
        "RETRY_STATUSES = {408, 429}",
        "409 (conflict) is not retried",
    ),
    M(
        "retrying",
        "    if isinstance(exc, openai.APIConnectionError):\n        return True",
        "    if isinstance(exc, openai.APIConnectionError):\n        return False",
        "connection errors and timeouts are not retried",
    ),
    M(
        "retrying",
        'if error_field(exc, "code") == "insufficient_quota":\n        return False',
        'if error_field(exc, "code") == "quota":\n        return False',
        "an exhausted quota is retried",
    ),
    M(
        "retrying",
        'headers.get("retry-after-ms")',
        'headers.get("x-retry-after-ms")',
        "retry-after-ms is ignored",
    ),
    M(
        "retrying",
        "return seconds / 1000",
        "return seconds",
        "retry-after-ms is read as seconds",
    ),
    M(
        "retrying",
        "        return min(asked, MAX_WAIT)",
        "        return asked",
        "the 60 s cap on a server's wait is gone",
    ),
    M("retrying", "MAX_WAIT = 60.0", "MAX_WAIT = 600.0", "the cap is ten minutes"),
    M("retrying", "NEVER_RETRY = {501, 505}", "NEVER_RETRY = {501}", "505 is retried"),
    M(
        "retrying",
        "    asked = retry_after(exc)\n",
        "    asked = None\n",
        "Retry-After is ignored entirely",
    ),
    M(
        "retrying",
        "min(0.5 * 2.0 ** min(attempt, 16), 8.0)",
        "min(0.5 * 2.0 ** min(attempt, 16), 16.0)",
        "back-off grows past 8 s",
    ),
    M(
        "retrying",
        "(0.75 + random.random() / 2)",
        "(0.5 + random.random())",
        "jitter of ±50 % instead of ±25 %",
    ),
    M(
        "retrying",
        "if attempt > max_retries or not is_retryable(exc):",
        "if attempt >= max_retries or not is_retryable(exc):",
        "one retry fewer than max_retries",
    ),
    M(
        "retrying",
        "exc.gptmagic_attempts = attempt",
        "exc.gptmagic_attempts = 1",
        "the message does not count the attempts",
    ),
    M(
        "retrying",
        "wait = backoff(attempt - 1, exc)",
        "wait = backoff(attempt, exc)",
        "the first retry waits twice as long",
    ),
    M(
        "retrying",
        "return max(0.0, date.timestamp() - (time.time() if now is None else now))",
        "return date.timestamp() - (time.time() if now is None else now)",
        "a Retry-After date in the past gives a negative wait",
    ),
    # -- errors: one line, the right cause, no secret ------------------------------------------
    M(
        "errors",
        "            at = text.find(head, at + 1)",
        "            at = -1",
        "only the first occurrence of the key is masked",
    ),
    M(
        "errors",
        "    return MASKED_BEGINNING if len(form) >= 2 * MASKED_BEGINNING else len(form)",
        "    return len(form)",
        "a key's beginning without its end is shown",
    ),
    M(
        "errors",
        "    return MASKED_BEGINNING if len(form) >= 2 * MASKED_BEGINNING else len(form)",
        "    return min(len(form), MASKED_BEGINNING)",
        "the beginning of a short password is masked: words starting like it vanish",
    ),
    M(
        "errors",
        "            while end < limit and text[end] == form[end - at]:",
        "            while False:",
        "a key is masked only up to its 12th character, the rest shown",
    ),
    M(
        "errors",
        "    if len(value) < 4:",
        "    if len(value) <= 4:",
        "four-character secrets are shown",
    ),
    M(
        "errors",
        "return redact(_explain(exc, host, model, timeout, attempts, what, facts), secrets)",
        "return _explain(exc, host, model, timeout, attempts, what, facts)",
        "an error line echoing the key is shown unmasked",
    ),
    M(
        "errors",
        'retried = f" after {attempts} attempts" if attempts > 1 else ""',
        'retried = f" after {attempts} attempts" if attempts > 2 else ""',
        "two attempts are not counted in the message",
    ),
    M(
        "errors",
        'f"No answer from {host} within {timeout:g} s{retried} (timeout). "\n'
        '            f"Raise it with %config GPTMagic.timeout = {max(60, int(timeout * 2))}',
        'f"No answer from {host} within {timeout:g} s{retried} (timeout). "\n'
        '            f"Raise it with %config GPTMagic.timeout = {max(60, int(timeout))}',
        "the suggested timeout does not grow",
    ),
    M(
        "errors",
        '        if error_field(exc, "code") == "insufficient_quota":\n'
        '            return f"Your quota',
        '        if error_field(exc, "code") == "quota":\n            return f"Your quota',
        "an exhausted quota is reported as a rate limit",
    ),
    M(
        "errors",
        'if isinstance(body.get("detail"), str):',
        'if isinstance(body.get("msg"), str):',
        "a vLLM-style detail message is lost",
    ),
    M(
        "errors",
        "if isinstance(inner, dict) and inner.get(name) is not None:",
        "if isinstance(inner, dict) and name in inner:",
        "a null field reads as the text 'None'",
    ),
    M(
        "errors",
        "    if status >= 500:",
        "    if status > 500:",
        "a 500 is reported as a refusal, not a server failure",
    ),
    M(
        "errors",
        "            raise kind(str(exc)) from None",
        "            raise",
        "expected failures print a traceback instead of one line",
    ),
    # -- usage: the kernel total and the budget ------------------------------------------------
    M(
        "usage",
        "self.total.total_tokens >= budget",
        "self.total.total_tokens > budget",
        "token_budget refuses only after exceeding it, not on reaching it",
    ),
    M(
        "usage",
        "self.total, self.estimated, self.replayed = Usage(), 0, Usage()",
        "self.estimated, self.replayed = 0, Usage()",
        "%gpt usage --reset leaves the total (and the budget block) in place",
    ),
    M(
        "usage",
        "        self.records.clear()\n        self.total, self.estimated",
        "        self.total, self.estimated",
        "%gpt usage --reset keeps the per-answer rows",
    ),
    M(
        "usage",
        "if self.usage is None and self.status in CUT_SHORT:",
        "if self.usage is None:",
        "estimates of unreported usage are added to the kernel total",
    ),
    M(
        "usage",
        'total = max(found.get("total_tokens") or 0, prompt + completion)',
        'total = found.get("total_tokens") or 0',
        "a usage without total_tokens counts zero",
    ),
    M(
        "usage",
        'prompt = found.get("prompt_tokens") or found.get("input_tokens") or 0',
        'prompt = found.get("prompt_tokens") or 0',
        "image usage (input_tokens) is not counted",
    ),
    M(
        "usage",
        "self.completion_tokens + other.completion_tokens,",
        "self.completion_tokens,",
        "completion tokens are not added up",
    ),
    M(
        "usage",
        "r.usage is None and r.status not in (*CUT_SHORT",
        "r.usage is not None and r.status not in (*CUT_SHORT",
        "the wrong answers are said to have no reported usage",
    ),
    M(
        "usage",
        "| **kernel** | | | **{t.prompt_tokens:,}**",
        "| **kernel** | | | **{t.total_tokens:,}**",
        "the table's total row shows the wrong figure",
    ),
    M(
        "usage",
        'if record.status == "replayed":\n            self.replayed',
        "if False:\n            self.replayed",
        "replayed answers are not shown apart",
    ),
    M(
        "usage",
        "return max(int(value), 0)",
        "return int(value)",
        "a negative count lowers the total",
    ),
    # -- context: what a {name} may read, what is left as typed --------------------------------
    M(
        "context",
        'if attribute.startswith("_"):',
        'if attribute.startswith("__"):',
        "{obj._private} is read into the prompt",
    ),
    M(
        "context",
        "    if fence is not None:  # an unclosed fence runs to the end, as in CommonMark\n"
        '        parts.append((True, "".join(code)))',
        "    if fence is not None:  # an unclosed fence runs to the end, as in CommonMark\n"
        '        parts.append((False, "".join(code)))',
        "an unclosed fence is treated as prose and interpolated",
    ),
    M(
        "context",
        "            if closer.startswith(fence) and set(closer) == {fence[0]}:",
        "            if closer.startswith(fence[0]):",
        "a shorter or different fence closes a block",
    ),
    M(
        "context",
        'if len(name) > 4 and name.startswith("__") and name.endswith("__"):',
        "if False:",
        "{__builtins__} and other special names are read",
    ),
    M(
        "context",
        'elif text.startswith("}}", start) and escapes:',
        'elif text.startswith("}}", start):',
        "the }} closing a nested dict is turned into }",
    ),
    M(
        "context",
        '            if char == "`":',
        '            if char == "´":',
        "braces inside inline backticks are interpolated",
    ),
    M("context", "key = int(literal) if", "key = literal if", "{xs[-1]} reads a string key"),
    M(
        "context",
        'lead = "\\n" * (2 - len(before) + len(before.rstrip("\\n"))) if before else ""',
        'lead = ""',
        "a table inserted mid-line is glued to the text before it",
    ),
    M(
        "context",
        "lambda value, label: redact(describe(value, label, options), secrets, urls=False),",
        "lambda value, label: describe(value, label, options),",
        "{os.environ} carries the key into the prompt",
    ),
    M(
        "context",
        '_FENCE = re.compile(r"^[ \\t]*(`{3,}|~{3,})")',
        '_FENCE = re.compile(r"^(`{3,}|~{3,})")',
        "an indented fence (in a list) is not code",
    ),
    # -- cache: what is recorded, the key, the replay ------------------------------------------
    M(
        "cache",
        'NOT_IN_KEY = {"stream", "partial"}',
        'NOT_IN_KEY = {"partial"}',
        "an answer recorded streamed does not replay with --no-stream",
    ),
    M(
        "cache",
        "redact(json.dumps(record, ensure_ascii=False), self.secrets, urls=False)",
        "json.dumps(record, ensure_ascii=False)",
        "an answer echoing the key is written to the replay cache unmasked",
    ),
    M(
        "cache",
        'if self.file is None or self.mode != "record" or self.hit:',
        "if self.file is None or self.hit:",
        "replay mode writes to the cache",
    ),
    M(
        "cache",
        'if self.file is None or self.mode != "record" or self.hit:',
        'if self.file is None or self.mode != "record":',
        "a replayed answer is recorded again",
    ),
    M(
        "cache",
        'canonical({"kind": kind, "host": host, **request})',
        'canonical({"kind": kind, **request})',
        "an answer recorded at one server is replayed for another",
    ),
    M(
        "cache",
        "if v is not None and k not in NOT_IN_KEY",
        "if k not in NOT_IN_KEY",
        "adding an unset parameter invalidates every recording",
    ),
    M(
        "cache",
        "        if reason:\n            yield Finish(index, reason)",
        '        if reason:\n            yield Finish(index, "stop")',
        "a replayed answer cut by max_tokens loses its note",
    ),
    M(
        "cache",
        'if answer.get("usage"):\n        yield Reported',
        "if False:\n        yield Reported",
        "a replayed answer loses its usage",
    ),
    M(
        "cache",
        'return mode == "off" or (not path and mode == "record")',
        'return not path and mode == "record"',
        "cache_mode 'off' still uses the cache",
    ),
    M(
        "cache",
        'if os.read(fd, 1) != b"\\n":',
        "if False:",
        "a crashed writer's half line swallows the next record",
    ),
    M(
        "cache",
        '"messages": hashed_images(messages),',
        '"messages": hashed_images(messages[-1:]),',
        "a recording is replayed after a different conversation",
    ),
    M(
        "cache",
        'end = data.rfind(b"\\n") + 1',
        "end = len(data)",
        "a line still being written is indexed (and lost)",
    ),
    # -- codecells: only whole code, inserted once ---------------------------------------------
    M(
        "codecells",
        "if not (closer.startswith(fence) and set(closer) == {fence[0]}):",
        "if False:",
        "code cut mid-block by max_tokens is inserted as a cell",
    ),
    M(
        "codecells",
        "chosen = [body for info, body in blocks if info in PYTHON_INFO]",
        "chosen = []",
        "python-labelled blocks are not preferred",
    ),
    M(
        "codecells",
        "if not info and is_python(body)]",
        "if not info]",
        "an unlabelled block of prose is taken for code",
    ),
    M(
        "codecells",
        "isinstance(node.value, ast.Name | ast.Constant)",
        "isinstance(node.value, ast.Name)",
        "a bare constant counts as code",
    ),
    M(
        "codecells",
        "first = key not in session.inserted_cells",
        "first = True",
        "re-running a cell piles up inserted cells",
    ),
    M(
        "codecells",
        "(session.cell_id or prompt).encode()",
        "prompt.encode()",
        "an edited cell (same id) inserts again",
    ),
    M(
        "codecells",
        'names = [CODE_VARIABLE] + ([f"{out}_code"] if out else [])',
        "names = [CODE_VARIABLE]",
        "-o NAME does not set NAME_code",
    ),
    M(
        "codecells",
        'textwrap.dedent("".join(lines[1:-1]))',
        '"".join(lines[1:-1])',
        "an indented block is inserted indented",
    ),
    M(
        "codecells",
        '"\\n\\n".join(body.strip("\\n") for body in chosen)',
        'chosen[0].strip("\\n")',
        "only the first of several blocks is kept",
    ),
    M(
        "codecells",
        "ctx.shell.set_next_input(code, replace=False)",
        "ctx.shell.set_next_input(code, replace=True)",
        "the --code cell itself is replaced by the code",
    ),
    # -- compat: the body sent, adapted per (host, model) --------------------------------------
    M(
        "compat",
        'key = "max_completion_tokens" if RENAME_MAX_TOKENS in adaptations else "max_tokens"',
        'key = "max_tokens"',
        "the learnt max_completion_tokens is never sent",
    ),
    M(
        "compat",
        "if temperature is not None and DROP_TEMPERATURE not in adaptations:",
        "if temperature and DROP_TEMPERATURE not in adaptations:",
        "-t 0 is not sent",
    ),
    M("compat", "    if n != 1:", "    if n > 2:", "-n 2 is not sent"),
    M(
        "compat",
        "        if NO_STREAM_OPTIONS not in adaptations:",
        "        if True:",
        "stream_options are sent to a server that refused them",
    ),
    M(
        "compat",
        'if param == "max_tokens" and "max_tokens" in body:',
        'if param == "max_tokens":',
        "an adaptation is learnt for a parameter that was not sent",
    ),
    M(
        "compat",
        'if param in ("stream_options", "stream_options.include_usage")',
        'if param in ("stream_options",)',
        "a 400 on stream_options.include_usage is not adapted",
    ),
    M(
        "compat",
        "if not isinstance(exc, openai.BadRequestError):",
        "if not isinstance(exc, openai.APIStatusError):",
        "a 422 naming a parameter is adapted",
    ),
    M(
        "compat",
        "if top_p is not None and DROP_TOP_P not in adaptations:",
        "if top_p is not None:",
        "top_p is sent to a model that refused it",
    ),
    M(
        "compat",
        'if param == "temperature" and "temperature" in body:\n        return DROP_TEMPERATURE',
        'if param == "temperature" and "temperature" in body:\n        return DROP_TOP_P',
        "a refused temperature drops top_p instead",
    ),
    # -- chat: one cell from prompt to stored turn ---------------------------------------------
    M(
        "outcome",
        "kept = next((i for i, a in enumerate(answers) if a.strip()), None)",
        "kept = next((i for i, a in reversed(list(enumerate(answers))) if a.strip()), None)",
        "-n 2 keeps the last answer in the history, not the first",
    ),
    M(
        "chat",
        "key = (self.endpoint.host, self.request.model, self.backend.name)",
        'key = (self.endpoint.host, "", self.backend.name)',
        "a learnt adaptation applies to every model on the host",
    ),
    M(
        "chat",
        'if r.code and result.status == "complete":',
        'if r.code and result.status != "incomplete":',
        "the code of an interrupted --code answer is inserted",
    ),
    M(
        "chat",
        '        if result.status == "complete":\n            rounds = ',
        '        if result.status != "incomplete":\n            rounds = ',
        "an interrupted answer is recorded in the replay cache",
    ),
    M(
        "chat",
        'usable = result.status in ("complete", "interrupted") and kept is not None',
        'usable = result.status != "empty" and kept is not None',
        "a broken stream's partial answer is stored",
    ),
    M(
        "chat",
        "        if usable and r.use_history:",
        "        if usable:",
        "--no-history stores the turn",
    ),
    M(
        "outcome",
        'if status == "complete" and not any(a.strip() for a in answers):',
        "if False:",
        "an empty answer passes as a complete one",
    ),
    M(
        "chat",
        "        if refusal := session.usage.budget_refusal(self.settings.token_budget):\n"
        "            raise GPTMagicError(refusal)",
        "        if refusal := session.usage.budget_refusal(self.settings.token_budget):\n"
        "            pass",
        "token_budget is never enforced",
    ),
    M(
        "chat",
        "exact = bool(completion and self.request.n == 1 and not self.rounds)",
        "exact = bool(completion and not self.rounds)",
        "with -n the kept answer is charged every answer's tokens",
    ),
    M(
        "chat",
        "prompt_tokens = first.prompt_tokens if first else None",
        "prompt_tokens = None",
        "the server's prompt count is not used to measure the turn",
    ),
    M(
        "chat",
        "user_ns[r.out] = answers[0] if r.n == 1 else answers",
        "user_ns[r.out] = answers[0]",
        "-o with -n stores only the first answer",
    ),
    M(
        "chat",
        "        if r.out and usable:",
        "        if r.out and kept is not None:",
        "-o stores a broken stream's partial answer",
    ),
    M(
        "chat",
        "        if plan.dropped_turns:\n",
        "        if False:\n",
        "trimming the history is silent",
    ),
    M(
        "outcome",
        'if "length" in reasons and outcome != "empty":',
        'if "stop" in reasons and outcome != "empty":',
        "an answer cut by max_tokens has no note",
    ),
    M(
        "chat",
        '        if outcome == "complete" and not collected.finished():',
        "        if False:",
        "a stream that ends without finishing counts as complete",
    ),
    M(
        "outcome",
        "if r.n > 1 and len(answers) < r.n and",
        "if r.n > 1 and len(answers) < r.n - 1 and",
        "a server ignoring n is not reported",
    ),
    M(
        "chat",
        "answers = [redact(a, secrets, urls=False) for a in collected.answers()]",
        "answers = collected.answers()",
        "an answer echoing the key is shown and kept",
        ("test_secrets.py",),
    ),
    # -- streaming: the live display's pace and freezing --------------------------------------
    # -- reading streams as plain JSON, checked; masking while they stream ----------------------
    M(
        "compat",
        "            return ChatStream(parsed(raw, to=plain_stream()), n)",
        "            return ChatStream(parsed(raw), n)",
        "each chat chunk is built as an SDK model (5x the CPU)",
    ),
    M(
        "responses",
        "            return ResponseStream(parsed(raw, to=plain_stream()))",
        "            return ResponseStream(parsed(raw))",
        "each Responses event is built as an SDK model (5x the CPU)",
    ),
    M(
        "responses",
        'if delta := checked(field_of(event, "delta"), "delta", str):\n'
        "                    yield Delta",
        'if delta := field_of(event, "delta"):\n                    yield Delta',
        "a Responses text delta that is not text becomes answer text",
    ),
    M(
        "livemask",
        "        if start < cut < end:",
        "        if start < cut < end and end - start == len(forms[0]):",
        "a masked beginning of a key across a piece's end is shown in part",
    ),
    M("streaming", "MIN_INTERVAL = 0.125", "MIN_INTERVAL = 0.05", "more than 8 updates a second"),
    M(
        "streaming",
        "if now - self._last < MIN_INTERVAL:",
        "if now - self._last < 0:",
        "updates are not paced at all",
    ),
    M(
        "streaming",
        "step = max(MIN_STEP, GROWTH * self._shown_len) if self._shown_len else 1",
        "step = MIN_STEP",
        "updates resend the tail without growth: bytes grow with time, not length",
    ),
    M(
        "streaming",
        "return size >= FREEZE_AT or GROWTH * size > rate * MAX_WAIT",
        "return size >= FREEZE_AT",
        "a slow stream stalls for seconds between updates",
    ),
    M(
        "streaming",
        "return size >= FREEZE_AT or GROWTH * size > rate * MAX_WAIT",
        "return True",
        "a fast stream is cut into many short displays",
    ),
    M(
        "streaming",
        "    if fence is not None and fence_cut > cut:",
        "    if False:",
        "a long code block cannot be frozen and stalls a slow stream",
    ),
    M(
        "streaming",
        'return Split(text[:fence_cut] + marker + "\\n", opening + text[fence_cut:], fence_cut)',
        "return Split(text[:fence_cut], text[fence_cut:], fence_cut)",
        "a frozen code block is left open: the rest renders as prose",
    ),
    M(
        "streaming",
        "            if self._displays >= MAX_DISPLAYS:",
        "            if False:",
        "a long answer passes a notebook's output cap and seems to stop",
    ),
    M(
        "streaming",
        "        least = self._merged // (MAX_DISPLAYS - 1)",
        "        least = 0",
        "merges resend the answer every few displays: bytes grow with its square",
    ),
    M(
        "streaming",
        "                self._merge(start, closing=split.frozen[split.cut :])",
        '                self._merge(start, closing="")',
        "a merge leaves a code block open: the live tail renders inside it",
    ),
    # -- describe: the caps of prompt renderings -----------------------------------------------
    M("describe", "SERIES_ROWS = 20", "SERIES_ROWS = 10", "a Series shows fewer than 20 values"),
    M(
        "describe",
        "shown = series.iloc[: max(options.rows, SERIES_ROWS)]",
        "shown = series.iloc[: min(options.rows, SERIES_ROWS)]",
        "a Series shows only context_rows",
    ),
    M("describe", "TABLE_COLUMNS = 12", "TABLE_COLUMNS = 10**6", "the 12-column table cap is gone"),
    M(
        "describe",
        "LIST_COLUMNS = 50",
        "LIST_COLUMNS = 10**6",
        "every column of a huge frame is named",
    ),
    M("describe", "CELL_CHARS = 30", "CELL_CHARS = 300", "one long value floods the table"),
    M(
        "describe",
        "    if len(text) <= max_chars:\n        return text",
        "    if len(text) < max_chars:\n        return text",
        "text of exactly the cap is cut",
    ),
    M(
        "describe",
        "    if rows <= STATS_SAMPLE:",
        "    if rows < STATS_SAMPLE:",
        "statistics sample a frame of exactly 10,000 rows",
    ),
    M(
        "describe",
        'if columns > TABLE_COLUMNS else ""',
        'if columns >= TABLE_COLUMNS else ""',
        "a 12-column frame is said to be cut",
    ),
    # -- tools: what --tools may read, how calls are run, shown and kept ----------------------
    M(
        "runner",
        "    return rounds >= max_rounds",
        "    return rounds > max_rounds",
        "the round limit lets a sixth round of tool calls run",
    ),
    M(
        "runner",
        "    return ToolResult(name, call.raw, output, False, _summary(name, call, why, secrets))",
        "    return ToolResult(name, call.raw, output, True, _summary(name, call, why, secrets))",
        "a call past the round limit is listed as ok",
    ),
    M(
        "runner",
        '        if name.startswith("_"):',
        '        if name.startswith("__"):',
        "a _private variable is readable by tools",
    ),
    M(
        "runner",
        "        return redact(str(value), secrets, urls=False)\n",
        "        return value\n",
        "a value is not masked before a table cell or call line shortens it",
    ),
    M(
        "runner",
        "    output = cap(redact(output, secrets, urls=False), options.max_chars)",
        "    output = cap(output, options.max_chars)",
        "a tool's output is not masked: a key in a variable goes to the model",
    ),
    M(
        "runner",
        "    output = cap(redact(output, secrets, urls=False), options.max_chars)",
        "    output = redact(output, secrets, urls=False)",
        "a tool's output is not capped at context_max_chars",
    ),
    M(
        "runner",
        "    output = cap(redact(output, secrets, urls=False), options.max_chars)",
        "    output = redact(cap(output, options.max_chars), secrets, urls=False)",
        "the cap cuts a key before it is masked: its beginning goes to the model",
    ),
    M(
        "runner",
        '    room = SUMMARY_CHARS - len(tail) - len("🔧  ")',
        '    room = SUMMARY_CHARS - len("🔧  ")',
        "a call line with long arguments passes 160 characters",
    ),
    M(
        "runner",
        '(", …]" if len(value) > 3 else "]")',
        '(", …]" if len(value) >= 3 else "]")',
        "a call line naming exactly three columns says there are more",
    ),
    M(
        "runner",
        "if arguments is None or (isinstance(arguments, str) and not arguments.strip()):",
        "if arguments is None:",
        'a call with "" as arguments (as some servers send) is refused as malformed JSON',
    ),
    M(
        "runner",
        "        if key not in properties:\n            takes",
        "        if False:\n            takes",
        "an argument the tool does not take (a query, a filter) is ignored, not refused",
    ),
    M(
        "runner",
        "        wrong = isinstance(value, bool) or not isinstance(value, python)",
        "        wrong = not isinstance(value, python)",
        "true is accepted as a count of 1",
    ),
    M(
        "runner",
        "        number = default if number is None else number",
        "        number = number or default",
        "count 0 is read as the default, not refused",
    ),
    M(
        "runner",
        "        if high is not None and number > high:",
        "        if high is not None and number >= high:",
        "a call for exactly 50 rows is told it was cut",
    ),
    M(
        "runner",
        "    shown = call.clean(value) if isinstance(value, str) else value",
        "    shown = value",
        "a string variable is cut before it is masked: a key at the cut shows its beginning",
    ),
    M(
        "runner",
        '        message = cap(call.clean(" ".join(str(exc).split())), 200)',
        '        message = cap(" ".join(str(exc).split()), 200)',
        "a failing read's message is cut before it is masked: a key at the cut shows",
    ),
    M(
        "views",
        "        and name not in HIDDEN\n",
        "",
        "list_variables lists IPython's In, Out, exit and quit",
    ),
    M(
        "views",
        "        and not issubclass(type(value), _CODE)",
        "        and not isinstance(value, _CODE)",
        "listing asks a lazy object for __class__, which runs its setup",
    ),
    M(
        "views",
        'first = f", the first {MAX_VARIABLES} by name" if len(names) > MAX_VARIABLES else ""',
        'first = f", the first {MAX_VARIABLES} by name" if len(names) >= MAX_VARIABLES else ""',
        "a kernel of exactly 100 variables is said to have more",
    ),
    M(
        "views",
        "    if start >= total and total:",
        "    if start > total and total:",
        "a start one past the last row is not refused",
    ),
    M(
        "views",
        "    return min(start + rows, total)",
        "    return start + rows",
        "rows asked for past the end are said to be shown",
    ),
    M(
        "views",
        'if width > TABLE_COLUMNS else ""',
        'if width >= TABLE_COLUMNS else ""',
        "a frame of exactly 12 columns is said to be cut",
    ),
    M(
        "views",
        "        if len(positions) > TABLE_COLUMNS:",
        "        if len(positions) >= TABLE_COLUMNS:",
        "exactly 12 named columns are said to be cut",
    ),
    M(
        "views",
        "            shown = part[:, :TABLE_COLUMNS].tolist()",
        "            shown = part.tolist()",
        "a wide 2-D array shows every column, not 12",
    ),
    M(
        "views",
        "*(_header(c, clean) for c in part.columns)]",
        "*(cell(c) for c in part.columns)]",
        "a column label holding a key is cut to a cell before it is masked",
    ),
    M(
        "views",
        "{cap(clean(capped_repr(item, 4 * ITEM_CHARS)), ITEM_CHARS)}",
        "{clean(cap(capped_repr(item, 4 * ITEM_CHARS), ITEM_CHARS))}",
        "a list item is cut before it is masked: a key at the cut shows its beginning",
    ),
    M(
        "views",
        "        if len(positions) > 1:",
        "        if False:",
        "value_counts of a duplicated column name silently counts only the first",
    ),
    M(
        "views",
        '    most = f"; the {top} most frequent" if distinct > top else ""',
        '    most = f"; the {top} most frequent" if distinct >= top else ""',
        "exactly `top` distinct values are said to be the most frequent of more",
    ),
    M(
        "views",
        "    if distinct > top:\n        rest",
        "    if distinct >= top:\n        rest",
        "exactly `top` distinct values end with '… and 0 more values'",
    ),
    M(
        "views",
        "    counts = series.value_counts(dropna=False)",
        "    counts = series.value_counts()",
        "missing values are left out of the counts and shares",
    ),
    M(
        "specs",
        '        "required": list(properties),',
        '        "required": [],',
        "the schemas break strict mode: the Responses API refuses the tools",
    ),
    M(
        "specs",
        '    return {"type": [kind, "null"], "description": description}',
        '    return {"type": kind, "description": description}',
        "optional arguments cannot be null: a strict model must invent a start",
    ),
    M(
        "specs",
        '            "strict": True,',
        '            "strict": False,',
        "Responses tools are sent without strict: the model may send unknown arguments",
    ),
    M(
        "toolloop",
        'call_id = f"call_{number}_{position}"',
        'call_id = f"call_{number}"',
        "calls sent without ids share one id: their results answer the wrong call",
    ),
    M(
        "toolloop",
        '"name": redact(call.name, secrets, urls=False),',
        '"name": call.name,',
        "a key the model puts in a call's name is kept unmasked",
    ),
    M(
        "toolloop",
        "        if refused:\n            why = ",
        "        if False:\n            why = ",
        "past the round limit the calls are run and their results go back",
    ),
    M(
        "toolloop",
        "        rows=settings.context_rows,\n",
        "",
        "describe_variable ignores GPTMagic.context_rows",
    ),
    M(
        "toolloop",
        "        stats=settings.context_stats,\n",
        "",
        "describe_variable ignores GPTMagic.context_stats",
    ),
    M(
        "toolloop",
        "        max_chars=settings.context_max_chars,\n",
        "",
        "tool outputs ignore GPTMagic.context_max_chars",
    ),
    M(
        "toolloop",
        "            last_error=ctx.session.last_error,",
        "            last_error=None,",
        "last_error never sees the kernel's last exception",
    ),
    M(
        "toolloop",
        "    secrets = known_secrets(ctx.session)",
        "    secrets: list = []",
        "tool outputs are not masked with the kernel's key",
    ),
    M(
        "toolloop",
        "        said = [self.text.strip()] if self.text.strip() else []",
        "        said = []",
        "the text beside the calls is missing from the final output",
    ),
    M(
        "toolloop",
        '        return cls(data["text"], [dict(call) for call in data["calls"]])',
        '        return cls("", [dict(call) for call in data["calls"]])',
        "a replayed round loses the text beside its calls",
    ),
    M(
        "toolloop",
        'json.loads(call["arguments"]) if call["arguments"].strip() else {}',
        'json.loads(call["arguments"])',
        'a call sent with "" as arguments is listed with the text "", not {}',
    ),
    M(
        "toolloop",
        '        except ValueError:\n            arguments = call["arguments"]',
        "        except ValueError:\n            arguments = {}",
        "a call with malformed arguments is listed as a call with none",
    ),
    M(
        "toolloop",
        '            and isinstance(c.get("ok"), bool)\n',
        "",
        "a cache line whose call lacks ok fails the replayed cell instead of being skipped",
    ),
    M(
        "toolloop",
        'in ("tools", "tool_choice")',
        'in ("tools",)',
        "a server refusing tool_choice gets the raw 400, not 'does not support tools'",
    ),
    # -- backends: Responses, Azure, fields, the client, the transport and the key -------------
    M(
        "responses",
        '_INCOMPLETE = {"max_output_tokens": "length",',
        '_INCOMPLETE = {"max_tokens": "length",',
        "a Responses answer cut by max_output_tokens has no 'cut by max_tokens' note",
    ),
    M(
        "responses",
        'reason = (details is not None and field_of(details, "reason")) or "incomplete"',
        'reason = (details is not None and field_of(details, "reason")) or "length"',
        "an incomplete response with no reason is said to be cut by max_tokens",
    ),
    M(
        "responses",
        '_TEXT = ("response.output_text.delta", "response.refusal.delta")',
        '_TEXT = ("response.output_text.delta",)',
        "a streamed refusal is not shown: the answer seems empty",
    ),
    M(
        "responses",
        '_REASONING = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")',
        '_REASONING = ("response.reasoning_summary_text.delta",)',
        "a model's raw reasoning text (reasoning_text.delta) is not shown in the 💭 line",
    ),
    M(
        "responses",
        "                    if parted:\n"
        "                        yield Reasoning(0, REASONING_BREAK)\n",
        "",
        "the parts of a streamed reasoning summary run together",
    ),
    M(
        "responses",
        'if field_of(item, "type") == "function_call":\n                    yield _tool_call(item)',
        'if field_of(item, "type") != "message":\n                    yield _tool_call(item)',
        "a finished reasoning item is taken for a tool call",
    ),
    M(
        "responses",
        'elif kind in ("response.completed", "response.incomplete"):',
        'elif kind == "response.completed":',
        "a streamed answer cut by max_output_tokens ends as a broken stream",
    ),
    M(
        "responses",
        'raise _failure(field_of(failed, "error"), self._stream.response.request)',
        "raise _failure(failed, self._stream.response.request)",
        "response.failed loses the server's message and code",
    ),
    M(
        "responses",
        '            elif kind == "error":',
        '            elif kind == "response.error":',
        "an error event mid-stream is ignored: the server's message is lost",
    ),
    M(
        "responses",
        '        raise _failure(field_of(response, "error"), request)',
        "        pass",
        "a non-streamed failed response passes as an answer",
    ),
    M(
        "responses",
        "if text and any(isinstance(event, Reasoning) for event in events):",
        "if False:",
        "the parts of a non-streamed reasoning summary run together",
    ),
    M(
        "responses",
        'said = field_of(part, "text") or field_of(part, "refusal")',
        'said = field_of(part, "text")',
        "a non-streamed refusal is not shown: the answer seems empty",
    ),
    M(
        "responses",
        '    elif any(field_of(item, "type") == "function_call" for item in output):',
        "    elif False:",
        "a response that calls tools finishes with 'stop', not 'tool_calls'",
    ),
    M(
        "responses",
        'if m["role"] != "system" for item in _items(m)]',
        "for item in _items(m)]",
        "the system prompt is sent twice: as instructions and as an input item",
    ),
    M(
        "responses",
        'body["max_output_tokens"] = request.max_tokens',
        'body["max_tokens"] = request.max_tokens',
        "--max-tokens is sent under Chat Completions' name, which /responses refuses",
    ),
    M(
        "responses",
        'if param == "reasoning.summary" and "summary" in reasoning:',
        'if param == "reasoning_summary" and "summary" in reasoning:',
        "a refused reasoning summary drops the reasoning effort too",
    ),
    M(
        "responses",
        'kind = "output_text" if role == "assistant" else "input_text"',
        'kind = "input_text"',
        "an earlier answer's text parts are sent as input_text (refused for assistant items)",
    ),
    M(
        "responses",
        'call_id = checked(field_of(item, "call_id"), "call_id", str) or ""',
        'call_id = checked(field_of(item, "id"), "call_id", str) or ""',
        "a tool result answers the item id (fc_...), not the call_id",
    ),
    M(
        "responses",
        'said = [_input_item(message)] if message.get("content") else []',
        "said = []",
        "the model's words beside its tool calls are dropped from the history sent",
        ("test_backend_responses.py", "test_apis.py", "test_tools_chat.py"),
    ),
    M(
        "usage",
        'details = get("output_tokens_details") or get("completion_tokens_details")',
        'details = get("completion_tokens_details")',
        "reasoning tokens of a Responses answer are read as 0",
        ("test_backend_responses.py", "test_apis.py"),
    ),
    M(
        "azure",
        'AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com")',
        'AZURE_HOSTS = (".openai.azure.com",)',
        "an AI Foundry resource (cognitiveservices.azure.com) is not recognised as Azure",
    ),
    M(
        "azure",
        "    return host.endswith(AZURE_HOSTS)",
        "    return any(h in (url or '') for h in AZURE_HOSTS)",
        "a URL that only mentions an Azure host in its path is taken for Azure",
    ),
    M(
        "azure",
        "url = base_url or os.environ.get(ENDPOINT_ENV)",
        "url = os.environ.get(ENDPOINT_ENV) or base_url",
        "AZURE_OPENAI_ENDPOINT wins over GPTMagic.base_url",
    ),
    M(
        "azure",
        'if parts.scheme.lower() == "http" and is_azure_url(url):',
        "if False:",
        "an http:// Azure endpoint sends the key unencrypted",
    ),
    M(
        "azure",
        "version = api_version or from_url or os.environ.get(VERSION_ENV)",
        "version = api_version or os.environ.get(VERSION_ENV) or from_url",
        "OPENAI_API_VERSION wins over the api-version of the URL set in GPTMagic.base_url",
    ),
    M(
        "azure",
        'path = path[: path.find("/openai")] if "/openai" in path else path',
        "path = path",
        "a portal URL's /openai/deployments/... path is kept: requests go to a doubled path",
    ),
    M(
        "azure",
        "key = api_key or os.environ.get(KEY_ENV)",
        "key = os.environ.get(KEY_ENV) or api_key",
        "AZURE_OPENAI_API_KEY wins over a key typed with %gpt key",
    ),
    M(
        "azure",
        "if not key and not os.environ.get(AD_TOKEN_ENV):",
        "if not key:",
        "AZURE_OPENAI_AD_TOKEN alone is refused as 'no key'",
    ),
    M(
        "azure",
        "        max_retries=0,\n        http_client=http_client,",
        "        http_client=http_client,",
        "the SDK retries Azure requests on top of gptmagic's own (max_retries not honoured)",
    ),
    M(
        "azure",
        "key.reveal() if key is not None else None,",
        "None,",
        "a key typed with %gpt key is not sent to Azure",
    ),
    M(
        "azure",
        "        proxy=endpoint.proxy,\n",
        "",
        "GPTMagic.proxy is not applied to Azure",
    ),
    M(
        "azure",
        "        timeout=timeout,\n        max_retries=0,",
        "        max_retries=0,",
        "GPTMagic.timeout is not applied to Azure: a stalled resource is waited for 10 minutes",
    ),
    M(
        "azure",
        "ENVIRONMENT = (ENDPOINT_ENV, KEY_ENV, AD_TOKEN_ENV, VERSION_ENV)",
        "ENVIRONMENT = (ENDPOINT_ENV, KEY_ENV, AD_TOKEN_ENV)",
        "an OPENAI_API_VERSION changed with %env is not used until the kernel restarts",
    ),
    M(
        "fields",
        "    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):",
        "    if value is None or isinstance(value, kind):",
        "a bool where a number belongs (a choice index) is read as 0 or 1",
    ),
    M(
        "fields",
        '    raise MalformedChunk(f"{short(obj)} where an object was expected")',
        "    return None",
        "a chunk or event that is not an object is silently skipped",
    ),
    M(
        "events",
        'REASONING_BREAK = "\\n\\n"',
        'REASONING_BREAK = "\\n"',
        "the parts of a reasoning summary are not kept apart by a blank line",
        ("test_backend_responses.py", "test_apis.py"),
    ),
    M(
        "client",
        'url = base_url or provider_url(provider) or os.environ.get("OPENAI_BASE_URL") or ""',
        'url = base_url or os.environ.get("OPENAI_BASE_URL") or provider_url(provider) or ""',
        "with provider azure the Azure key goes to OPENAI_BASE_URL's server",
    ),
    M(
        "client",
        'url = base_url or provider_url(provider) or os.environ.get("OPENAI_BASE_URL") or ""',
        'url = provider_url(provider) or base_url or os.environ.get("OPENAI_BASE_URL") or ""',
        "AZURE_OPENAI_ENDPOINT wins over GPTMagic.base_url",
    ),
    M(
        "client",
        '        if chosen == "openai" and not url:',
        "        if not url:",
        "Azure without an endpoint sends the Azure key to api.openai.com",
    ),
    M(
        "client",
        "        return host_port(parts.hostname, port)  # never",
        "        return host_port(parts.hostname, None)  # never",
        "the server's port is dropped from the host in provenance and the cache key",
    ),
    M(
        "client",
        "        http_client = openai.DefaultHttpxClient(proxy=endpoint.proxy)",
        "        pass",
        "GPTMagic.proxy is not applied",
    ),
    M(
        "client",
        "        timeout=endpoint.timeout,\n        max_retries=0,",
        "        max_retries=0,",
        "GPTMagic.timeout is not applied: a stalled server is waited for 10 minutes",
    ),
    M(
        "client",
        "        max_retries=0,\n        http_client=http_client,",
        "        http_client=http_client,",
        "the SDK retries on top of gptmagic's own: max_retries = 0 still retries",
    ),
    M(
        "client",
        "environment = () if endpoint.proxy else tuple(sorted(urllib.request.getproxies()",
        "environment = () if True else tuple(sorted(urllib.request.getproxies()",
        "a proxy set with %env is not used until the kernel restarts",
    ),
    M(
        "client",
        "if factory is None else session.typed_key",
        "",
        "with Azure the OpenAI key (or a placeholder) is sent instead of the Azure key",
    ),
    M(
        "client",
        "cache_key = (endpoint, key, provider_env, environment)",
        "cache_key = (endpoint, provider_env, environment)",
        "a key typed (or forgotten) after the first cell is not used: the old client stays",
    ),
    M(
        "client",
        "cache_key = (endpoint, key, provider_env, environment)",
        "cache_key = (endpoint, key, environment)",
        "an Azure AD token renewed with %env is not used until the kernel restarts",
    ),
    M(
        "client",
        'if raw.headers.get("content-type", "").startswith("text/html"):',
        'if raw.headers.get("content-type", "") == "text/html":',
        "a web page sent as text/html; charset=utf-8 is not recognised",
    ),
    M(
        "client",
        '    host = f"[{host}]" if ":" in host else host',
        "    host = host",
        "an IPv6 server is shown without brackets, and [::1] is not local: a key is asked",
    ),
    M(
        "client",
        'masked_query(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))',
        'masked_query(urlunsplit(parts._replace(netloc=parts.netloc.partition("@")[2])))',
        "the part of a password after an @ in it is shown",
    ),
    M(
        "diagnosis",
        "        key_variable=key_variable(endpoint),\n",
        "",
        "a refused Azure key says to set OPENAI_API_KEY, which the Azure client never reads",
        ("test_apis.py",),
    ),
    M(
        "transport",
        "[openai.APIError, json.JSONDecodeError, MalformedChunk]",
        "[openai.APIError, MalformedChunk]",
        "a chunk that is not JSON ends the cell in a traceback, not an incomplete answer",
    ),
    M(
        "transport",
        "[openai.APIError, json.JSONDecodeError, MalformedChunk]",
        "[openai.APIError, json.JSONDecodeError]",
        "a chunk of the wrong shape ends the cell in a traceback, not an incomplete answer",
    ),
    M(
        "transport",
        'for name in ("httpx2", "httpx"):',
        'for name in ("httpx",):',
        "with the SDK on httpx2, a failed image download ends the cell in a traceback",
    ),
    M(
        "apikey",
        'URL_VARIABLES = ("openai_base_url", "http_proxy", "https_proxy", "all_proxy")',
        'URL_VARIABLES = ("openai_base_url", "http_proxy", "https_proxy")',
        "the password of ALL_PROXY is not masked",
    ),
    M(
        "apikey",
        "if name.lower() in URL_VARIABLES]",
        "if name in URL_VARIABLES]",
        "the password of HTTPS_PROXY (upper case) is not masked",
    ),
    M(
        "apikey",
        'LOCAL_HOSTS = {"127.0.0.1", "localhost",',
        'LOCAL_HOSTS = {"127.0.0.1",',
        "a server at localhost (Ollama) needs a key",
    ),
    M(
        "apikey",
        "    if session.typed_key is not None:\n        overrides",
        "    if session.typed_key is not None and env_key() is None:\n        overrides",
        "OPENAI_API_KEY wins over a key typed with %gpt key",
    ),
    M(
        "apikey",
        '    value = os.environ.get(KEY_ENV, "").strip()',
        '    value = os.environ.get(KEY_ENV, "")',
        "a key with a line end from a .env file is refused",
    ),
    M(
        "apikey",
        '        if " " < char <= "~":',
        '        if " " <= char <= "~":',
        "a key with a space inside is sent",
    ),
    M(
        "apikey",
        "    secrets += [Secret(v) for n in secret_variables()",
        "    secrets += [Secret(v) for n in ()",
        "the Azure key is not masked",
    ),
    M(
        "apikey",
        "found |= {Secret(password), Secret(unquote(password))} if password else set()",
        "found |= {Secret(password)} if password else set()",
        "a percent-encoded URL password is masked only as written, not decoded",
    ),
    M(
        "apikey",
        'password = urlsplit(url if "://" in url else "//" + url).password',
        "password = urlsplit(url).password",
        "the password of a proxy written without a scheme (user:pw@proxy:3128) is not masked",
    ),
    M(
        "apikey",
        "session.url_passwords.update(url_passwords(*urls))",
        "session.url_passwords = url_passwords(*urls)",
        "a base URL password is shown once the setting changes",
    ),
    # -- pictures, exports, files and rendering ------------------------------------------------
    M(
        "pictures",
        "    if max(width, height) <= max_side and len(data) <= max_bytes:",
        "    if max(width, height) < max_side and len(data) <= max_bytes:",
        "bytes exactly at the side cap are re-encoded, not sent as they are",
    ),
    M(
        "pictures",
        "    if max(width, height) <= max_side and len(data) <= max_bytes:",
        "    if max(width, height) <= max_side and len(data) < max_bytes:",
        "bytes exactly at the bytes cap are re-encoded, not sent as they are",
    ),
    M(
        "pictures",
        "        if max(size) <= max_side and len(data) <= max_bytes:",
        "        if max(size) < max_side and len(data) <= max_bytes:",
        "a figure rendered exactly at the side cap is rendered again, smaller",
    ),
    M(
        "pictures",
        "    dpi = min(float(figure.dpi), max_side / longest_inches)",
        "    dpi = float(figure.dpi)",
        "a large figure is first rendered whole at its own dpi, then again",
    ),
    M(
        "pictures",
        '    pil = sys.modules.get("PIL.Image")\n    if pil is None:  # resizing',
        "    import PIL.Image as pil\n    if pil is None:  # resizing",
        "PNG bytes over the cap import Pillow to resize them",
    ),
    M(
        "pictures",
        'JPEG_SIGNATURE = b"\\xff\\xd8\\xff"',
        'JPEG_SIGNATURE = b"\\xff\\xd8"',
        "bytes starting with FF D8 alone are taken for a JPEG, not text",
    ),
    M(
        "pictures",
        "_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}",
        "_JPEG_SOF = frozenset(range(0xC0, 0xD0))",
        "a JPEG's Huffman table (C4) is read as its frame size",
    ),
    M(
        "pictures",
        "    if width * height > MAX_PIXELS:",
        "    if width * height >= MAX_PIXELS:",
        "an image of exactly MAX_PIXELS is refused as too large to resize",
    ),
    M(
        "pictures",
        '            if "".join(text):\n                parts.append',
        "            if text:\n                parts.append",
        "two adjacent pictures are sent with an empty text part between them",
    ),
    M(
        "pictures",
        'def image_part(picture: Picture, detail: str = "auto")',
        'def image_part(picture: Picture, detail: str = "low")',
        "a picture is sent at low detail (85 tokens, 512 px)",
    ),
    M(
        "pictures",
        "    if count < 999_500:  # rounds to 999 kB at most",
        "    if count <= 1_000_000:  # rounds to 999 kB at most",
        "exactly 1 MB is shown as 1000 kB",
    ),
    M(
        "pictures",
        "    return max(1, round(picture.width * min(1.0, max_side / longest)))",
        "    return max(1, round(picture.width * max_side / longest))",
        "a small picture's thumbnail is blown up to 160 px",
    ),
    M(
        "pictures",
        "    return picture if len(picture.data) <= THUMBNAIL_EMBED_BYTES else None",
        "    return picture if len(picture.data) < THUMBNAIL_EMBED_BYTES else None",
        "without PIL, a picture of exactly the embed cap is shown as text only",
    ),
    M(
        "pictures",
        '"RGBa", "La") or "transparency" in image.info',
        '"RGBa", "La")',
        "a palette image with a transparent colour is sent as JPEG, losing it",
    ),
    M(
        "livemask",
        "    cut, low = len(text), max(0, len(text) - len(forms[0]) + 1)",
        "    cut, low = len(text), max(0, len(text) - len(forms[0]) + 2)",
        "a key but its last character is shown (masked as a beginning) before its end",
    ),
    M(
        "livemask",
        "        if any(len(form) > len(tail) and form.startswith(tail) for form in forms):",
        "        if any(len(form) >= len(tail) and form.startswith(tail) for form in forms):",
        "a whole password (shorter than the key) at a piece's end is held back, not shown",
    ),
    M(
        "livemask",
        "    starts = sorted(i for c in firsts for i in _positions(text, c, low))",
        "    starts = sorted((i for c in firsts for i in _positions(text, c, low)), reverse=True)",
        "the latest possible beginning is held: an earlier one is shown",
    ),
    M(
        "livemask",
        "    for start, end in sorted(secret_spans(text, forms), reverse=True):",
        "    for start, end in sorted(secret_spans(text, forms)):",
        "runs overlapping a moved cut are seen against the old cut: one is cut in two",
    ),
    M(
        "livemask",
        "        self._firsts = {form[0] for form in forms}",
        "        self._firsts = {forms[0][0]}",
        "only the longest secret's first character can begin a held tail",
    ),
    M(
        "livemask",
        "        if any(head in text for head in self._heads):",
        "        if any(head in text for head in self._heads[:1]):",
        "a piece holding only another secret is shown unmasked",
    ),
    M(
        "livemask",
        "        self._heads = [form[: masked_beginning(form)] for form in forms]",
        "        self._heads = [form[: masked_beginning(form) + 1] for form in forms]",
        "a piece ending on exactly a key's 12 first characters is shown unmasked",
    ),
    M(
        "livemask",
        "        shown = self._masked(self._held)",
        "        shown = self._held",
        "the tail held back is shown unmasked when the answer ends",
    ),
    M(
        "livemask",
        "    def discard(self) -> None:\n        self._release()\n",
        "    def discard(self) -> None:\n",
        "a failed answer loses the text held back",
    ),
    M(
        "livemask",
        "        self._view.flush()\n\n    def finish",
        "        self._release()\n        self._view.flush()\n\n    def finish",
        "a flush before a tool round shows a tail that may begin a key",
    ),
    # export: %gpt save / load
    M(
        "export",
        '    if m.tool_calls:\n        data["tool_calls"] = m.tool_calls',
        "    if False:\n        pass",
        ".json loses the assistant's tool calls",
    ),
    M(
        "export",
        '    steps = {"steps": [message_dict(m) for m in t.steps]} if t.steps else {}',
        "    steps = {}",
        ".json loses a turn's tool steps",
    ),
    M(
        "export",
        "    calls = [{k: c[k] for k in CALL} for c in calls] if calls else None",
        "    calls = calls or None",
        "a hand-added field of a loaded tool call is kept (saved again, keyed in the cache)",
    ),
    M(
        "export",
        '    "replayed",\n    "recorded",',
        '    "recorded",',
        ".md loses that an answer was replayed",
    ),
    M(
        "export",
        '        cell.metadata["gptmagic"] = {"role": m.role, "meta": m.meta}',
        '        cell.metadata["gptmagic"] = {"role": m.role, "meta": {}}',
        ".ipynb loses each answer's metadata",
    ),
    M(
        "export",
        "    if not is_parts(m.content):\n        return shown(m), {}",
        "    if not is_parts(m.content):\n        return m.content, {}",
        ".ipynb answers lose their provenance line",
    ),
    M(
        "export",
        "        if mark.group(1) == TOOLS:  # summaries",
        "        if False:  # summaries",
        "loading a .md with tool lines fails (or loads them as a message)",
    ),
    M(
        "export",
        '    return text[len(line) :].removeprefix("\\n\\n")',
        "    return text[len(line) :]",
        "a loaded answer starts with the blank line after its provenance",
    ),
    M(
        "export",
        '    data = without_lone_surrogates(writer(conv)).encode("utf-8")',
        '    data = writer(conv).encode("utf-8", "surrogatepass")',
        "a saved file holds half an emoji: not UTF-8",
    ),
    M(
        "export",
        '            blocks.append(call_line(summary) if summary else f"> {m.content}")',
        '            blocks.append(f"> {summary}" if summary else f"> {m.content}")',
        "a tool line in .md/.ipynb is Markdown, not the characters written",
    ),
    M(
        "export",
        "        elif said := text_of(m.content).strip():",
        "        elif False:",
        "the model's words beside its calls are lost in .md/.ipynb",
    ),
    # files
    M(
        "files",
        "        mode = stat.S_IMODE(os.stat(path).st_mode)",
        "        mode = 0o644",
        "a save forgets the old file's permissions",
    ),
    M("files", "        mode = 0o644", "        mode = 0o600", "a new save is private (0600)"),
    M(
        "files",
        '            with open(path, "xb"):',
        '            with open(path, "wb"):',
        "without hard links, write_new overwrites an existing file",
    ),
    M(
        "files",
        '.decode("utf-16-le", "replace")',
        '.decode("utf-16-le", "ignore")',
        "half an emoji vanishes instead of showing as U+FFFD",
    ),
    M(
        "files",
        '    if "\\x00" in text:',
        "    if False:",
        "a path with a NUL byte fails with a traceback, not one line",
    ),
    # render
    M(
        "render",
        'inert = [_AUTOLINK.sub(r"\\1", piece).replace("<", "&lt;") for piece in pieces]',
        'inert = [piece.replace("<", "&lt;") for piece in pieces]',
        "an autolink <https://...> becomes broken text",
    ),
    M(
        "render",
        '    text = text.replace("&", "&amp;").replace("<", "&lt;")',
        '    text = text.replace("<", "&lt;")',
        "a tool line's &lt; shows as <",
    ),
    M(
        "render",
        '_LITERAL = re.compile(r"[\\\\`*\\[\\]~$|]|(?<![^\\W_])_|_(?![^\\W_])")',
        '_LITERAL = re.compile(r"[\\\\`*\\[\\]~$|]")',
        "a tool line's _raw_ shows in italics",
    ),
    M(
        "render",
        'for k, v in sorted(params.items()) if v is not None and k != "stream"',
        'for k, v in params.items() if v is not None and k != "stream"',
        "the provenance line changes after an nbformat round trip: not stripped on load",
    ),
    M(
        "render",
        'for k, v in sorted(params.items()) if v is not None and k != "stream"',
        "for k, v in sorted(params.items()) if v is not None",
        "the provenance line lists stream=True",
    ),
    M(
        "dryrun",
        '    tokens = sum(message_tokens(m["content"]) for m in messages)',
        '    tokens = message_tokens(messages[-1]["content"])',
        "the dry run's estimate leaves out the history",
    ),
    M(
        "dryrun",
        "    text = json.dumps(shorten_data_urls(body), indent=2, ensure_ascii=False)",
        "    text = json.dumps(body, indent=2, ensure_ascii=False)",
        "the dry run shows megabytes of base64",
    ),
    M(
        "dryrun",
        '    pieces = dry_run_pieces(content, "\\n" + fence if fence else "", images)',
        '    pieces = dry_run_pieces(content, "", images)',
        "a fence the prompt leaves open swallows the JSON",
    ),
    M(
        "dryrun",
        '            out += [replace(piece, label=next(labels, "")), ["", ""]]',
        '            out += [piece, ["", ""]]',
        "the dry run's thumbnails do not name their {fig}",
    ),
    # content
    M(
        "content",
        "    scale = min(1.0, 768 / min(width, height))",
        "    scale = 768 / min(width, height)",
        "a small image is estimated as if scaled up to 768 px",
    ),
    M(
        "content",
        '    return f"{head},…({size_text(len(data) * 3 // 4)})"',
        '    return f"{head},…({size_text(len(data))})"',
        "a shortened data URL gives the base64 length, not the image's size",
    ),
    M(
        "content",
        '        k: _short(v) if k in ("url", "image_url") and isinstance(v, str)',
        '        k: _short(v) if k == "url" and isinstance(v, str)',
        "a Responses input_image's data URL is shown whole in the dry run",
    ),
    M(
        "content",
        '        return {"type": "image", "png_pixels": pixels, "detail": detail}',
        '        return {"type": "image", "png_pixels": pixels}',
        "an image at low detail replays a recording made at high detail",
    ),
    # -- %gptimage: images and progress
    M(
        "images",
        'elif token.startswith("-") and len(token) > 1 and not token[1].isdigit():',
        'elif token.startswith("-") and len(token) > 1:',
        "a line prompt that starts with a negative number (-40 degrees) is read as an option",
    ),
    M(
        "images",
        'wants_value = "=" not in token and (token.startswith("--") or len(token) == 2)',
        'wants_value = "=" not in token',
        "-n2 (a value joined to its short option) swallows the prompt's first word",
    ),
    M(
        "images",
        "if args.save and args.n > 1 and Path(args.save).suffix.lower() in IMAGE_SUFFIXES:",
        "if args.save and args.n > 1 and Path(args.save).suffix in IMAGE_SUFFIXES:",
        "-n 2 --save FOX.PNG (one file for several images) is sent instead of refused",
    ),
    M(
        "images",
        '        if self.n > 1:\n            body["n"] = self.n',
        '        if self.n > 2:\n            body["n"] = self.n',
        "-n 2 asks the server for one image",
    ),
    M(
        "images",
        'if data[:4] == b"RIFF" and data[8:12] == b"WEBP":',
        'if data[:4] == b"WEBP":',
        "a WebP image from the server is refused as a format gptmagic does not show",
    ),
    M(
        "images",
        '    return host_port(parts.hostname or "the server", parts.port)',
        '    return host_port(parts.netloc or "the server", parts.port)',
        "a download error shows the user:password@ of the image link",
    ),
    M(
        "images",
        "from .client import host_port, parsed, sdk_for",
        "from .client import parsed, sdk_for\n\n\ndef host_port(host, port):\n"
        '    return f"{host}:{port}" if port else host',
        "an IPv6 image host is named without brackets (::1:8080)",
    ),
    M(
        "images",
        "_ = parts.port  # urlsplit reads the port only when asked",
        "pass  #",
        "an image link with port 99999 fails the cell with a ValueError traceback",
    ),
    M(
        "images",
        '        if "e" not in text:',
        "        if size < 1000 * scale:",
        "an image limit of 999,999 bytes is named as 1e+03 kB",
    ),
    M(
        "images",
        "            elif is_timeout(exc):",
        "            elif isinstance(exc, TimeoutError):",
        "an image link that stops sending says ReadTimeout, not that GPTMagic.timeout passed",
    ),
    M(
        "images",
        '    return n > 1 or target.endswith(("/", os.sep)) or Path(target).expanduser().is_dir()',
        "    return n > 1 or Path(target).expanduser().is_dir()",
        "--save foxes/ for one image writes foxes.png instead of a file in the new folder",
    ),
    M(
        "images",
        '            status = "replayed" if self.cached.hit else "complete"',
        '            status = "complete"',
        "a replayed image is billed again in the kernel total",
    ),
    M(
        "images",
        "self.ctx.shell.user_ns[r.out] = data[0] if r.n == 1 else data",
        "self.ctx.shell.user_ns[r.out] = data[0] if len(data) == 1 else data",
        "-o with -n 3 stores bytes, not a list, when the server returns one image",
    ),
    M(
        "images",
        'progress.fail(f"Interrupted after {progress.elapsed:.0f} s: no image.")',
        'progress.fail(f"No image: the request failed after {progress.elapsed:.0f} s.")',
        "Ctrl-C during an image request leaves a line saying the request failed",
    ),
    M(
        "images",
        'f"partial image {event.partial_image_index + 1} of {self.request.partial}"',
        'f"partial image {event.partial_image_index} of {self.request.partial}"',
        "partial images are counted from 0 (partial image 0 of 2)",
    ),
    M(
        "images",
        "                response.raise_for_status()\n",
        "",
        "an expired image link (404) is refused as a format, with no word that links expire",
    ),
    M(
        "images",
        "if declared.isdigit() and int(declared) > limit:",
        "if declared.isdigit() and int(declared) >= limit:",
        "an image link announcing exactly image_max_bytes is refused",
    ),
    M(
        "images",
        '            size = len(data) * 3 // 4 - data.endswith("=") - data.endswith("==")',
        "            size = len(data) * 3 // 4",
        "a base64 image of exactly image_max_bytes is refused (its padding counted as bytes)",
    ),
    M(
        "images",
        'CONTENT_POLICY_CODES = {"content_policy_violation", "moderation_blocked"}',
        'CONTENT_POLICY_CODES = {"content_policy_violation"}',
        "a GPT image model's moderation_blocked refusal does not show the server's reason",
    ),
    M(
        "images",
        "        return redact(text, known_secrets(self.session))",
        "        return text",
        "a key the server echoes in a content-policy refusal is shown",
    ),
    M(
        "images",
        "        if len(pictures) < r.n:",
        "        if len(pictures) <= r.n:",
        "every caption says the server returned fewer images than asked",
    ),
    M(
        "images",
        'f"{self.session.usage.total.total_tokens:,}"',
        'f"{usage.total_tokens:,}"',
        "an image caption's kernel total counts only that image",
    ),
    M(
        "images",
        "pictures = [self.picture(b64, i, revised) for i, (b64, revised) in recorded]",
        "pictures = [self.picture(b64, i) for i, (b64, revised) in recorded]",
        "a replayed dall-e image loses its revised prompt",
    ),
    M(
        "progress",
        "            elif len(self._slots) < 2:",
        "            elif len(self._slots) < 3:",
        "each partial image is a new output instead of replacing the previous one",
    ),
    M(
        "progress",
        "        display_id = uuid.uuid4().hex",
        '        display_id = "gptmagic-progress"',
        "a second %gptimage's waiting line replaces the image of the cell before",
    ),
    M(
        "progress",
        '        sys.stderr.write(f"\\r{line.ljust(self._width)}{end}")',
        '        sys.stderr.write(f"\\r{line}{end}")',
        "a shorter terminal line leaves the end of the longer one before it",
    ),
    M(
        "progress",
        '            self._terminal(summary, end="\\n")',
        "            pass",
        "in a terminal no line says the images were generated: the waiting line stays",
    ),
    M(
        "progress",
        '    return ctx.settings.display == "markdown"',
        '    return ctx.settings.display != "auto"',
        "display = 'text' shows the waiting line as a notebook display, not on stderr",
    ),
    M(
        "progress",
        "    if kernel is None:\n        return False",
        "    if kernel is None:\n        return True",
        "a terminal IPython (display auto) gets notebook displays instead of a stderr line",
    ),
    M("progress", "INTERVAL = 1.0", "INTERVAL = 5.0", "the elapsed time is updated every 5 s"),
    M(
        "progress",
        "self._update(bundle, raw=True, metadata=metadata, display_id=slots[i])",
        "self._update(bundle, raw=True, display_id=slots[i])",
        "the first image, shown in place of the waiting line, loses its provenance metadata",
    ),
    M(
        "content",
        '            image = {"url": image["url"], "detail": detail}',
        "            image = dict(image)",
        "a hand-added field of a loaded image part is sent to the server",
    ),
    # -- the settings panel
    M(
        "panel",
        '    if budget is not None:\n        line += f" · budget',
        '    if False:\n        line += f" · budget',
        "the panel's usage line never shows how much of GPTMagic.token_budget is used",
    ),
    M(
        "panel",
        "    if ledger.unreported:",
        "    if False:",
        "the usage line hides answers the server sent no usage for: the total looks complete",
    ),
    M(
        "panel",
        "{total.completion_tokens:,} completion)",
        "{total.prompt_tokens:,} completion)",
        "the usage line gives the prompt tokens as the completion tokens",
    ),
    M(
        "panel",
        '        return "server default" if value is None else f"{value:g}"',
        '        return "server default" if not value else f"{value:g}"',
        "a saved notebook's table says temperature 0 is the server default, though 0 is sent",
    ),
    M(
        "panel",
        '        ("server", endpoint.host),',
        '        ("server", endpoint.base_url),',
        "a base_url's user:password@ is written into the saved notebook's settings table",
    ),
    M(
        "panel",
        'MARKDOWN_SPECIAL = re.compile(r"([\\\\`*_|<>\\[\\]])")',
        'MARKDOWN_SPECIAL = re.compile(r"([\\\\`*_|\\[\\]])")',
        "a system prompt holding <tags> is rendered as HTML in the saved notebook's table",
    ),
    M(
        "panel",
        '            if change["new"] is not None:\n                self.slider.value',
        '            if change["new"]:\n                self.slider.value',
        "%config GPTMagic.temperature = 0 leaves the slider elsewhere: it shows a value not sent",
    ),
    M(
        "panel",
        '                self.value = None if change["new"] else self.slider.value',
        '                self.value = None if change["new"] else self.value',
        "unticking server default leaves the parameter unsent though the slider shows a value",
    ),
    M(
        "panel",
        '        self.temperature = OptionalSlider("temperature", 2.0)',
        '        self.temperature = OptionalSlider("temperature", 1.0)',
        "the temperature slider stops at 1: temperatures up to 2 cannot be chosen",
    ),
    M(
        "panel",
        '        self.top_p = OptionalSlider("top_p", 1.0)',
        '        self.top_p = OptionalSlider("top_p", 2.0)',
        "the top_p slider offers values over 1, which GPTMagic refuses",
    ),
    M(
        "panel",
        "(lambda n: n or 0, lambda n: n or None)",
        "(lambda n: n or 0, lambda n: n)",
        "0 in the max_tokens box is refused instead of meaning not set",
    ),
    M(
        "panel",
        "            if self.value and self.value not in names:",
        "            if not names:",
        "a configured model the server does not list is missing from the dropdown",
    ),
    M(
        "panel",
        '            if not echo and change["new"]:',
        '            if change["new"]:',
        "the models list arriving changes the kernel's model to the first one listed",
    ),
    M(
        "panel",
        '        name = change["new"].strip()',
        '        name = change["new"]',
        "a model name typed with a space around it is sent with the space",
    ),
    M(
        "panel",
        "                if self.source == endpoint:",
        "                if True:",
        "a slow models list from the previous base_url replaces the new server's list",
    ),
    M(
        "panel",
        "{html.escape(note)}</span>",
        "{note}</span>",
        "a server's error message in the models note is rendered as HTML in the panel",
    ),
    M(
        "panel",
        "    if known_key(session, endpoint.host) is None:",
        "    if False:",
        "opening the panel without a key prompts for one from a background thread",
    ),
    M(
        "panel",
        "        secrets = known_secrets(session)",
        "        secrets = []",
        "the key a server echoes in its error is shown in the panel's models note",
    ),
    M(
        "panel",
        "        if endpoint != self.model.source:",
        "        if self.model.source is None:",
        "after base_url changes the dropdown keeps offering the old server's models",
    ),
    M(
        "panel",
        "            self.model.other,\n",
        "",
        "after %unload_ext the box for another model name stays enabled and does nothing",
    ),
    M(
        "panel",
        "        self.unbind()\n        self.magic = magic",
        "        self.magic = magic",
        "after %reload_ext the panel still sets the old GPTMagic's traits too",
    ),
    M(
        "panel",
        "            if not self.panels and shell is not None:",
        "            if shell is not None:",
        "closing one of two panels stops the other's usage line from updating",
    ),
    M(
        "panel",
        '            "image_model": (self.image_model, None),\n',
        "",
        "the image model box is not linked: a name typed there is never used by %gptimage",
    ),
    M(
        "panel",
        "            if panel.magic is magic:",
        "            if panel.magic is not None:",
        "after %reload_ext the panel keeps setting the old, unloaded GPTMagic",
    ),
    M(
        "content",
        '    if parts and parts[-1].get("type") == "text":',
        "    if parts:",
        "--code's instruction after a picture is written into the image part",
    ),
    # -- commands, arguments, settings, session, last error, hooks
    M(
        "commands",
        "kernel usage {usage.total.total_tokens:,} tokens",
        "kernel usage {usage.total.completion_tokens:,} tokens",
        "the status line's kernel usage counts only the answers' tokens, not the prompts'",
    ),
    M(
        "commands",
        "    ctx.session.conversation.reset()",
        "    ctx.session.conversation = type(ctx.session.conversation)()",
        "%gpt reset also forgets the system prompt",
    ),
    M(
        "commands",
        "    if not conv.turns and not conv.system:",
        "    if not conv.turns:",
        "%gpt history of a conversation holding only a system prompt says it is empty",
    ),
    M(
        "commands",
        '" ← current" if n == ctx.settings.model',
        '" ← current" if ctx.settings.model.startswith(n)',
        "%gpt models marks gpt-4o as current when the model is gpt-4o-mini",
    ),
    M(
        "commands",
        "        ctx.session.typed_key = None\n",
        "",
        "%gpt key --forget keeps sending the typed key",
    ),
    M(
        "commands",
        "    if ctx.session.typed_key is not None:\n        return TYPED",
        "    if False:\n        return TYPED",
        "with Azure, status names AZURE_OPENAI_API_KEY while the key typed with %gpt key is sent",
    ),
    M(
        "commands",
        "    if budget is not None:",
        "    if False:",
        "%gpt usage does not say how much of GPTMagic.token_budget is used",
    ),
    M(
        "commands",
        "        source = key_source(ctx)  # the provider's own variables with Azure",
        "        source = key_and_source(ctx.session, ctx.endpoint.host)[1]",
        "with Azure, %gpt key --forget names OPENAI_API_KEY's state, not the Azure key now sent",
        ("test_apis.py",),
    ),
    M(
        "commands",
        "    variable = key_variable(ctx)  # with Azure",
        "    variable = KEY_ENV if env_key() is not None else None",
        "with Azure, %gpt key says the typed key replaces OPENAI_API_KEY, which Azure never reads",
        ("test_apis.py", "test_secrets.py"),
    ),
    M(
        "arguments",
        "        if not low <= value <= high:",
        "        if not low < value <= high:",
        "-t 0, the README's own example, is refused",
    ),
    M(
        "arguments",
        "        if not low <= value <= high:",
        "        if not low <= value < high:",
        "-t 2 and --top-p 1, the tops of their ranges, are refused",
    ),
    M(
        "arguments",
        "    if value <= 0:",
        "    if value < 0:",
        "--max-tokens 0 is accepted and sent",
    ),
    M(
        "arguments",
        "    if value <= 0:",
        "    if value <= 1:",
        "--max-tokens 1 and -n 1 are refused",
    ),
    M(
        "arguments",
        "temperature = number_in(0.0, 2.0)",
        "temperature = number_in(0.0, 1.0)",
        "-t 1.5 is refused, though temperatures go to 2",
    ),
    M(
        "arguments",
        "    if text in IPYTHON_NAMES or IPYTHON_CACHE.fullmatch(text):",
        "    if text in IPYTHON_NAMES or IPYTHON_CACHE.match(text):",
        "-o _summary, an ordinary name starting with an underscore, is refused",
    ),
    M(
        "settings",
        "    if value is not None and not low <= value <= high:",
        "    if value is not None and not low <= value < high:",
        "%config GPTMagic.temperature = 2 and top_p = 1, the tops of their ranges, are refused",
    ),
    M(
        "settings",
        "        if value is not None and value <= 0:",
        "        if value is not None and value < 0:",
        "%config GPTMagic.max_tokens = 0 is accepted and sent",
    ),
    M(
        "settings",
        '        if proposal["value"] < 0:',
        '        if proposal["value"] <= 0:',
        "%config GPTMagic.max_retries = 0 is refused, so a failure is still retried",
    ),
    M(
        "settings",
        '            "(never calls the API).",\n            stacklevel=2,\n        )\n'
        '        return "replay"',
        '            "(never calls the API).",\n            stacklevel=2,\n        )\n'
        '        return "record"',
        "a misspelt GPTMAGIC_CACHE_MODE records, calling the API, instead of replaying only",
    ),
    M(
        "settings",
        '        return os.environ.get(CACHE_ENV, "")',
        '        return ""',
        "GPTMAGIC_CACHE is not read",
    ),
    M(
        "settings",
        "        return CredentialedURL(value) if hidden else value",
        "        return value",
        "%config GPTMagic.proxy shows the proxy's password in the cell's Out",
    ),
    M(
        "session",
        "        return \"Secret('***')\"",
        '        return f"Secret({self._value!r})"',
        "a verbose traceback or %debug shows the key in a Secret's repr",
    ),
    M(
        "session",
        "    session = _SESSIONS.get(shell)",
        "    session = None",
        "%reload_ext gptmagic forgets the conversation, the usage and the typed key",
    ),
    M(
        "session",
        "        if self._usage is None:",
        "        if True:",
        "the kernel's token usage is forgotten after each answer",
    ),
    M(
        "lasterror",
        "TAIL_FRAMES = 4",
        "TAIL_FRAMES = 1",
        "{_error} keeps only the line that raised, not the calls that led there",
    ),
    M(
        "lasterror",
        "if len(self.message) <= 300 else",
        "if len(self.message) < 300 else",
        "{_error} cuts a message of exactly 300 characters with an ellipsis",
    ),
    M(
        "lasterror",
        '        text = "…\\n" + text[-MAX_CHARS:].split("\\n", 1)[-1]',
        '        text = text[:MAX_CHARS] + "\\n…"',
        "{_error} of a long traceback keeps its start and loses the error line at its end",
    ),
    M(
        "lasterror",
        "    exc = result.error_in_exec or result.error_before_exec",
        "    exc = result.error_in_exec",
        "a SyntaxError is not the last error: {_error} names the exception before it",
    ),
    M(
        "lasterror",
        '    return text.replace(home + os.sep, "~" + os.sep) if len(home) > 1 else text',
        "    return text",
        "{_error} sends the user's home folder path to the server",
    ),
    M(
        "lasterror",
        "_short_paths(str(exc)), text, execution_count)",
        "str(exc), text, execution_count)",
        "{_error}'s headline shows the home folder of a path in the message, not ~",
    ),
    M(
        "hooks",
        "        if result.error_in_exec is None and result.error_before_exec is None:",
        "        if result.error_in_exec is None:",
        "a cell that does not compile is not kept as the last error",
    ),
    M(
        "hooks",
        "        if error is not None:\n            self.session.last_error = error",
        "        self.session.last_error = error",
        "a mistyped %%gpt option erases the kernel's last exception",
    ),
    M(
        "hooks",
        '        self.session.cell_id = getattr(info, "cell_id", None)',
        "        self.session.cell_id = None",
        "re-running a --code cell in JupyterLab inserts a second code cell",
    ),
    M(
        "errors",
        "        if facts.deployment:  # Azure: no org or project; access is the resource's roles",
        "        if False:",
        "a 403 from Azure tells the user to check OPENAI_API_KEY, which Azure never reads",
        ("test_apis.py",),
    ),
    M(
        "outcome",
        'if "content_filter" in reasons and outcome != "empty":',
        'if "content_filter" in reasons and outcome == "empty":',
        "an answer the content filter cut shows its text with no word that it was cut",
    ),
    M(
        "panel",
        "    if model_is_deployment(endpoint.provider):  # its GET /models lists base models"
        " instead",
        "    if False:",
        "on Azure the panel offers GET /models' base models, which are not deployments",
        ("test_panel.py",),
    ),
    M(
        "context",
        "if typed not in self.calls and any(name in self.namespace for name in names):",
        "if typed not in self.calls and all(name in self.namespace for name in names):",
        "{len(df)} goes as typed without a note: only calls of kernel functions are noted",
        ("test_context.py",),
    ),
    M(
        "pictures",
        "    if kind := _convertible(data):",
        "    if kind := None:",
        "GIF and WebP bytes are refused as a damaged PNG instead of sent as one",
        ("test_pictures.py", "test_figs.py"),
    ),
    M(
        "responses",
        '            for part in _listed(field_of(item, "content"), "content"):',
        '            for part in field_of(item, "content") or []:',
        "a non-streamed Responses message whose content is a string is read letter by letter",
        ("test_outcomes.py", "test_backend_responses.py"),
    ),
    M(
        "compat",
        '    "max_tokens": "length",',
        '    "max_tokens": "stop",',
        "an answer a gateway reports cut by max_tokens is stored with no word that it was cut",
        ("test_outcomes.py",),
    ),
    M(
        "compat",
        "    low = sent.lower()",
        "    low = sent",
        "Vertex AI's MAX_TOKENS and STOP in capitals are not read as length and stop",
        ("test_outcomes.py",),
    ),
    # -- what an error line knows beyond the exception, and which provider a request uses
    M(
        "diagnosis",
        '    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))',
        '    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))',
        "an error line shows the base URL's query, where some gateways take their key",
    ),
    M(
        "diagnosis",
        '    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))',
        '    return urlunsplit((parts.scheme, netloc, "", "", ""))',
        "an error line names the server without the base URL's path (/v1 missing or wrong)",
    ),
    M(
        "diagnosis",
        '        return url.split("@")[-1]',
        "        return url",
        "a base URL with no host shows its user:password@ in the error line",
    ),
    M(
        "diagnosis",
        '    return host_port(parts.hostname or "?", port)',
        "    return parts.netloc",
        "an error line names the proxy with its user:password@",
    ),
    M(
        "diagnosis",
        "                if proxy is None:\n                    return None",
        "                if proxy is None:\n                    continue",
        "a host NO_PROXY exempts is said to be reached through the proxy",
    ),
    M(
        "diagnosis",
        "    return (lowercase or names or",
        "    return (names or lowercase or",
        "with https_proxy and HTTPS_PROXY both set, the error names the one urllib ignores",
    ),
    M(
        "diagnosis",
        "        return dataclasses.replace(facts, models_missing=True)",
        "        return facts",
        "a 404 from a server with no model list blames the model name alone",
    ),
    M(
        "diagnosis",
        '    probe = what != "model list" and sdk is not None and not facts.deployment',
        '    probe = what != "model list" and sdk is not None',
        "a 404 from Azure lists base models as if they were deployments",
    ),
    M(
        "diagnosis",
        '        placeholder_key=getattr(sdk, "api_key", None) == PLACEHOLDER,',
        '        placeholder_key=getattr(sdk, "api_key", None) != PLACEHOLDER,',
        "a 401 with no key set says the key was refused instead of that none is set",
    ),
    M(
        "providers",
        '    if setting != "auto":',
        '    if setting == "openai":',
        "provider 'azure' with a base URL Azure's hosts do not name is sent as OpenAI",
    ),
    M(
        "providers",
        "        if url and getattr(_module(module), recognise)(url):",
        "        if url:",
        "with provider 'auto' every base URL is taken for Azure",
    ),
    M(
        "providers",
        "    return os.environ.get(entry[2]) if entry else None",
        "    return None",
        "provider 'azure' ignores AZURE_OPENAI_ENDPOINT, where Azure users keep their address",
    ),
    # -- a query in the base URL
    M(
        "client",
        "        default_query=dict(parse_qsl(parts.query)) or None,",
        "        default_query=None,",
        "a base URL's ?key= is not sent: the gateway refuses every request",
        ("test_url_credentials.py",),
    ),
    M(
        "client",
        '    if "@" not in parts.netloc:\n        return masked_query(url)',
        '    if "@" not in parts.netloc:\n        return url',
        "the dry run shows a gateway key written in the base URL's query",
        ("test_url_credentials.py",),
    ),
    M(
        "apikey",
        "        found |= query_secrets(url)",
        "        pass",
        "a gateway key from the base URL's query, echoed by the model, is shown in the answer",
        ("test_url_credentials.py",),
    ),
    M(
        "errors",
        'SECRET_PARAMETER = re.compile(r"key|token|secret|pass|pwd|sig|auth|credential", '
        "re.IGNORECASE)",
        'SECRET_PARAMETER = re.compile(r"key|token|secret|pass|pwd|sig|auth|credential")',
        "a gateway key in ?API_KEY= (capitals) is shown",
        ("test_url_credentials.py",),
    ),
    M(
        "client",
        '        check_readable(url, "server address", "GPTMagic.base_url or OPENAI_BASE_URL")\n',
        "",
        "a base URL with an unclosed IPv6 bracket ends every cell in a ValueError traceback",
        ("test_diagnosis.py",),
    ),
    M(
        "panel",
        "        except GPTMagicError as exc:  # an unreadable address: said here, not as a "
        "traceback",
        "        except ValueError as exc:  # an unreadable address: said here, not as a traceback",
        "an open panel prints a traceback under every cell while the base URL is unreadable",
    ),
    M(
        "pictures",
        "    if count < 999_500:  # rounds to 999 kB at most",
        "    if count < 1_000_000:  # rounds to 999 kB at most",
        "an image of 999,600 bytes is named '1000 kB' in a placeholder or a cap's message",
    ),
    M(
        "codecells",
        '        if isinstance(cell, dict) and cell.get("id") == cell_id:',
        "        if isinstance(cell, dict):",
        "Restart and Run All skips inserting code that sits below some other cell",
    ),
    M(
        "codecells",
        "    first = key not in session.inserted_cells and not saved_below(session.cell_id, code)",
        "    first = key not in session.inserted_cells",
        "Restart and Run All inserts a second copy of the code already below each --code cell",
    ),
    M(
        "outcome",
        "    gave_up = next((r for r in reasons if r in ABANDONED), None)",
        "    gave_up = next((r for r in reasons[1:] if r in ABANDONED), None)",
        "an answer vLLM aborted is stored as complete",
    ),
    M(
        "outcome",
        "    unknown = sorted({x for x in reasons if x and x not in KNOWN and x not in ABANDONED})",
        "    unknown = sorted({x for x in reasons if x and x not in KNOWN and x in ABANDONED})",
        "an answer ended for a reason gptmagic does not know gets no word that it may be cut",
    ),
    M(
        "chat",
        "        self.cut_round = estimate  # part of what the cell cost: its footer says so\n",
        "",
        "a tools cell whose second round was interrupted shows only the first round's tokens",
        ("test_tools_chat.py",),
    ),
    M(
        "render",
        '            f"≈{paid + guessed:,} tokens ({paid:,} reported + ≈{guessed:,} for the "',
        '            f"≈{paid:,} tokens ({paid:,} reported + ≈{guessed:,} for the "',
        "the footer of a tools cell cut in a later round leaves that round out of its sum",
        ("test_tools_chat.py",),
    ),
    M(
        "chat",
        "        elif self.cut_round is not None:  # beside the reported rounds",
        "        elif False:  # beside the reported rounds",
        "%gpt history counts only the reported rounds of a tools turn cut in a later round",
        ("test_tools_chat.py",),
    ),
    M(
        "export",
        '    nb.metadata["kernelspec"] = dict(KERNELSPEC)\n',
        "",
        "a conversation saved as .ipynb opens in JupyterLab under a Select Kernel dialog",
        (*TESTS["export"], "e2e/test_saved_notebook_browser.py"),
    ),
    M(
        "chat",
        '"Interrupted before the answer started; nothing was stored in the history."',
        '"Interrupted before the answer started; nothing was sent to the history."',
        "Ctrl-C during a 429 wait says nothing was 'sent', though the request had been",
        ("test_reliability.py",),
    ),
    M(
        "export",
        "    if is_running_notebook(target):\n",
        "    if False:\n",
        "%gpt save analysis.ipynb typed in analysis.ipynb replaces the notebook on disk",
        ("test_commands.py", "e2e/test_save_own_notebook_browser.py"),
    ),
    M(
        "export",
        "        return target.resolve() == Path(running).resolve()",
        "        return target == Path(running)",
        "the notebook typed by its plain name (not its full path) is still overwritten",
        ("test_commands.py", "e2e/test_save_own_notebook_browser.py"),
    ),
]

# Survivors that cannot be killed from outside: the behaviour is identical.
EQUIVALENT: dict[str, str] = {}


def key(m: Mutant) -> str:
    return f"{m.module}: {m.bug}"


def copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", ".ruff_cache", "artifacts", "node_modules"
    )
    for item in ROOT.iterdir():
        if item.name in {".git", ".venv", ".ruff_cache"}:
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=ignore)
        else:
            shutil.copy2(item, dest / item.name)


def pytest(copy: Path, tests: tuple[str, ...], timeout: float) -> str:
    """'passed', 'failed', 'timeout' or 'missing' (none of these files exists)."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly"]
    files = [f"tests/{name}" for name in tests if (copy / "tests" / name).exists()]
    if not files:
        return "missing"
    command += files
    try:
        done = subprocess.run(
            command, cwd=copy, env=env, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return "passed" if done.returncode == 0 else "failed"


def run_mutant(copy: Path, m: Mutant, timeout: float) -> str:
    """'killed', 'survived' or 'stale'; the module is restored whatever happens."""
    path = source_path(copy, m.module)
    source = path.read_text(encoding="utf-8") if path.exists() else ""
    if source.count(m.original) != 1:
        return "stale"
    try:
        path.write_text(source.replace(m.original, m.replacement), encoding="utf-8")
        outcome = pytest(copy, m.tests or TESTS[m.module], timeout)
    finally:
        path.write_text(source, encoding="utf-8")
    return {"passed": "survived", "missing": "stale"}.get(outcome, "killed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="only this module (repeatable)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per mutant")
    parser.add_argument("--match", help="only mutants whose description contains this text")
    parser.add_argument("--tests", nargs="+", help="run these test files instead (e.g. one)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.module or m.module in args.module]
    chosen = [m for m in chosen if not args.match or args.match in m.bug]
    if args.tests:
        chosen = [dataclasses.replace(m, tests=tuple(args.tests)) for m in chosen]
    if not chosen:
        parser.error(f"no mutants for {args.module}; modules: {', '.join(TESTS)}")
    if args.list:
        for m in chosen:
            path = source_path(ROOT, m.module)
            found = path.read_text(encoding="utf-8") if path.exists() else ""
            stale = "" if found.count(m.original) == 1 else "  [stale]"
            print(f"{key(m)}{stale}\n    - {m.original!r}\n    + {m.replacement!r}")
        return 0

    results: dict[str, dict[str, list[Mutant]]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gptmagic-mutation-") as tmp:
        copy = Path(tmp)
        copy_repo(copy)
        needed = sorted({t for m in chosen for t in (m.tests or TESTS[m.module])})
        if pytest(copy, tuple(needed), args.timeout * 3) != "passed":
            print("The unmutated tests fail; fix them first:", " ".join(needed))
            return 2
        for m in chosen:
            outcome = run_mutant(copy, m, args.timeout)
            results.setdefault(m.module, {}).setdefault(outcome, []).append(m)
            print(f"{outcome:8}  {key(m)}", flush=True)

    print(f"\n{'module':13} killed  survived  stale  kill rate")
    totals = {"killed": 0, "survived": 0, "core_killed": 0, "core_counted": 0}
    for module, by in results.items():
        killed, survived = len(by.get("killed", [])), len(by.get("survived", []))
        counted = killed + survived
        rate = f"{100 * killed / counted:.0f} %" if counted else "-"
        print(f"{module:13} {killed:6}  {survived:8}  {len(by.get('stale', [])):5}  {rate:>9}")
        totals["killed"] += killed
        totals["survived"] += survived
        if module in CORE:
            totals["core_killed"] += killed
            totals["core_counted"] += counted
    counted = totals["killed"] + totals["survived"]
    if counted:
        print(
            f"{'all':13} {totals['killed']:6}  {totals['survived']:8}  "
            f"{'':5}  {100 * totals['killed'] / counted:7.0f} %"
        )
    if totals["core_counted"]:
        rate = 100 * totals["core_killed"] / totals["core_counted"]
        print(
            f"core modules: {totals['core_killed']}/{totals['core_counted']} killed ({rate:.0f} %)"
        )
    survivors = [m for by in results.values() for m in by.get("survived", [])]
    if survivors:
        print("\nSurvivors:")
        for m in survivors:
            why = EQUIVALENT.get(key(m), "not explained: write a test that kills it")
            print(f"  {key(m)}\n      {why}")
    stale = [m for by in results.values() for m in by.get("stale", [])]
    if stale:
        print("\nStale (snippet not found exactly once; update it):")
        for m in stale:
            print(f"  {key(m)}: {m.original!r}")
    print(f"\n{len(chosen)} mutants in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
