"""--dry-run: the user message as it will be sent, readable, then the exact request body."""

from __future__ import annotations

import json

import pandas as pd

from gptmagic.content import message_tokens
from tests.conftest import run

TABLE = "|  | x |\n|---|---|\n| 0 | 1 |\n| 1 | 2 |"


def dry_run(shell, outputs, body: str) -> tuple[str, str]:
    assert run(shell, f"%%gpt --dry-run\n{body}").success
    data = outputs.outputs[-1]["data"]
    return data["text/markdown"], data["text/plain"]


def test_the_markdown_shows_the_message_rendered_between_rules_then_the_json(
    shell, outputs, server
):
    shell.user_ns["df"] = pd.DataFrame({"x": [1, 2]})
    markdown, _ = dry_run(shell, outputs, "Look:\n{df}\nWhich is larger?")
    summary, message, body = markdown.split("\n\n---\n\n")
    assert summary == (
        f"Dry run: nothing sent. POST {server.base_url}/chat/completions, ≈42 prompt tokens "
        "(estimate).\n\n**The user message, as it will be sent:**"
    )
    assert message == (
        "Look:\n\n`df`: pandas DataFrame, 2 rows × 1 column\n\nColumns (dtype): x (int64)\n\n"
        f"First 2 rows:\n\n{TABLE}\n\nWhich is larger?"
    )
    assert body.startswith("**The request body:**\n\n```json\n{\n") and body.endswith("\n```")
    sent = json.loads(body.removeprefix("**The request body:**\n\n```json\n")[:-4])
    assert sent["messages"][-1]["content"] == message
    assert server.chat_requests == []


def test_the_plain_text_carries_the_same_message_unescaped_then_the_json(shell, outputs, server):
    shell.user_ns["df"] = pd.DataFrame({"x": [1, 2]})
    markdown, plain = dry_run(shell, outputs, "Look:\n{df}\nWhich is larger?")
    summary, rest = plain.split("\n\n----- the user message, as it will be sent -----\n")
    message, body = rest.split("\n----- the request body -----\n")
    assert markdown.startswith(summary + "\n\n")
    assert message.startswith("Look:\n\n`df`: pandas DataFrame, 2 rows × 1 column\n\n")
    assert message.endswith(f"{TABLE}\n\nWhich is larger?")
    assert json.loads(body)["messages"][-1]["content"] == message


def test_an_unclosed_fence_in_the_prompt_is_closed_before_the_json(shell, outputs):
    markdown, plain = dry_run(shell, outputs, "Why?\n~~~python\nx = 1")
    assert "\n\n---\n\nWhy?\n~~~python\nx = 1\n~~~\n\n---\n\n**The request body:**" in markdown
    assert "\nWhy?\n~~~python\nx = 1\n----- the request body -----\n" in plain  # as sent


def test_a_closed_fence_is_left_as_it_is(shell, outputs):
    markdown, _ = dry_run(shell, outputs, "Why?\n```\nx = 1\n```")
    assert "\n\n---\n\nWhy?\n```\nx = 1\n```\n\n---\n\n" in markdown


def test_the_token_estimate_counts_the_history_sent_with_the_prompt(shell, outputs, server):
    assert run(shell, "%%gpt -s 'Be brief.'\nWhat is a DataFrame?").success
    run(shell, "%%gpt --dry-run\nAnd a Series?")
    output = outputs.outputs[-1]
    sent = json.loads(output["data"]["text/plain"].split("\n----- the request body -----\n")[1])
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    expected = sum(message_tokens(m["content"]) for m in sent["messages"])
    assert output["metadata"]["gptmagic"]["estimated_prompt_tokens"] == expected
    assert f"≈{expected:,} prompt tokens (estimate)." in output["data"]["text/plain"]
    assert len(server.chat_requests) == 1
