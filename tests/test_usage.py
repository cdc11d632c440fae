"""Token accounting against what servers really send: nothing a server reports lowers the total."""

from __future__ import annotations

import pytest

from gptmagic.testing.server import Reply
from gptmagic.usage import Usage
from tests.conftest import run


def kernel_total(shell) -> int:
    return shell.magics_manager.registry["GPTMagic"].session.usage.total.total_tokens


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}, Usage(5, 7, 12)),
        ({"prompt_tokens": 5, "completion_tokens": 7}, Usage(5, 7, 12)),  # no total: the sum
        ({"input_tokens": 3, "output_tokens": 4, "total_tokens": 9}, Usage(3, 4, 9)),  # images
        ({"prompt_tokens": -500, "completion_tokens": 10, "total_tokens": -490}, Usage(0, 10, 10)),
        ({"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 1}, Usage(50, 10, 60)),
        ({"prompt_tokens": 2.0, "completion_tokens": 3, "total_tokens": None}, Usage(2, 3, 5)),
        ({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, Usage(0, 0, 0)),
    ],
)
def test_reported_usage_is_read_with_negative_counts_as_zero(reported, expected):
    assert Usage.from_api(reported) == expected


@pytest.mark.parametrize(
    "reported",
    [
        None,
        {},
        "lots",
        42,
        {"x": 1},
        {"prompt_tokens": "abc", "completion_tokens": 4},
        {"prompt_tokens": 2, "completion_tokens": float("inf")},
        {"prompt_tokens": 2, "completion_tokens": float("nan")},
        {"prompt_tokens": True, "completion_tokens": 3},  # a bool is no count
        {"prompt_tokens": 2, "completion_tokens": {"n": 3}},
    ],
)
def test_usage_without_a_count_or_with_an_unreadable_one_is_not_reported(reported):
    assert Usage.from_api(reported) is None


@pytest.mark.parametrize("options", ["", "--no-stream"])
def test_negative_usage_from_a_server_never_lowers_the_kernel_total(shell, server, options):
    run(shell, "%%gpt\nhello")
    before = kernel_total(shell)
    assert before > 0
    hostile = {"prompt_tokens": -500, "completion_tokens": 10, "total_tokens": -490}
    server.enqueue(Reply(text="fine", usage_body=hostile))
    assert run(shell, f"%%gpt {options}\nagain").success
    assert kernel_total(shell) == before + 10


def test_negative_usage_cannot_defeat_the_token_budget(shell, server, capsys):
    run(shell, "%%gpt\nhello")
    used = kernel_total(shell)
    run(shell, f"%config GPTMagic.token_budget = {used + 10}")
    hostile = {"prompt_tokens": -10_000, "completion_tokens": 10, "total_tokens": -9_990}
    server.enqueue(Reply(text="fine", usage_body=hostile))
    assert run(shell, "%%gpt\nagain").success  # used + 10: the budget is reached
    assert not run(shell, "%%gpt\nonce more").success
    assert "Token budget reached" in capsys.readouterr().err
    assert len(server.chat_requests) == 2
