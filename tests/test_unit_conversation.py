"""Conversation.plan/commit: which turns a request sends, and what the history keeps.

Token counts are given explicitly, so the budget arithmetic is exact.
"""

from __future__ import annotations

from gptmagic.conversation import Conversation, Message, Turn

SYSTEM_TOKENS = Message("system", "Be brief.").tokens


def turn(name: str, user: int = 4, assistant: int = 6) -> Turn:
    """A turn of ``user + assistant`` tokens (10 by default)."""
    return Turn(
        Message("user", f"{name}?", tokens=user), Message("assistant", f"{name}!", tokens=assistant)
    )


def conversation(*names: str, system: str = "Be brief.") -> Conversation:
    return Conversation(system=system, turns=[turn(n) for n in names])


def sent(plan) -> list[str]:
    return [m["content"] for m in plan.messages]


def plan(conv: Conversation, budget: int | None, prompt: str = "now", **kwargs):
    return conv.plan(prompt, budget=budget, **kwargs)


def fixed(conv: Conversation, prompt: str = "now") -> int:
    """What every request costs before any turn: the system prompt and the prompt."""
    return Message("system", conv.system).tokens + Message("user", prompt).tokens


def test_without_a_budget_every_turn_is_sent_in_order():
    p = plan(conversation("a", "b", "c"), None)
    assert sent(p) == ["Be brief.", "a?", "a!", "b?", "b!", "c?", "c!", "now"]
    assert [m["role"] for m in p.messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert p.dropped_turns == 0 and p.dropped_tokens == 0


def test_the_newest_turns_are_kept_and_the_oldest_dropped():
    conv = conversation("a", "b", "c", "d")
    p = plan(conv, fixed(conv) + 20)
    assert sent(p) == ["Be brief.", "c?", "c!", "d?", "d!", "now"]
    assert (p.dropped_turns, p.dropped_tokens) == (2, 20)


def test_a_turn_that_exactly_fits_the_budget_is_kept():
    conv = conversation("a", "b", "c")
    p = plan(conv, fixed(conv) + 30)
    assert p.dropped_turns == 0 and len(p.messages) == 8


def test_one_token_over_the_budget_drops_the_oldest_turn():
    conv = conversation("a", "b", "c")
    p = plan(conv, fixed(conv) + 29)
    assert sent(p)[1:5] == ["b?", "b!", "c?", "c!"]
    assert (p.dropped_turns, p.dropped_tokens) == (1, 10)


def test_trimming_stops_at_the_first_turn_that_does_not_fit():
    # A big turn in the middle: the small one before it must not be sent out of order.
    conv = Conversation(system="", turns=[turn("old"), turn("big", 40, 60), turn("new")])
    p = plan(conv, fixed(conv) + 25)
    assert sent(p) == ["new?", "new!", "now"]
    assert (p.dropped_turns, p.dropped_tokens) == (2, 110)


def test_a_budget_smaller_than_the_prompt_sends_the_prompt_alone():
    conv = conversation("a")
    p = plan(conv, 1)
    assert sent(p) == ["Be brief.", "now"] and p.dropped_turns == 1


def test_context_tokens_count_the_system_prompt_and_the_turns_sent():
    conv = conversation("a", "b", "c")
    p = plan(conv, fixed(conv) + 20)
    assert p.context_tokens == SYSTEM_TOKENS + 20


def test_planning_changes_nothing():
    conv = conversation("a", "b", "c")
    plan(conv, 1, system="Other.", fresh=True)
    assert [t.user.content for t in conv.turns] == ["a?", "b?", "c?"]
    assert conv.system == "Be brief."


def test_commit_removes_the_dropped_turns_and_appends_the_new_one():
    conv = conversation("a", "b", "c", "d")
    p = plan(conv, fixed(conv) + 20)
    conv.commit(p, Message("assistant", "later!", tokens=3))
    assert [t.user.content for t in conv.turns] == ["c?", "d?", "now"]
    assert conv.turns[-1].assistant.content == "later!"
    assert conv.tokens == 20 + conv.turns[-1].tokens


def test_commit_of_an_untrimmed_plan_keeps_every_turn():
    conv = conversation("a", "b")
    conv.commit(plan(conv, None), Message("assistant", "x"))
    assert [t.user.content for t in conv.turns] == ["a?", "b?", "now"]


def test_history_off_sends_only_the_system_prompt_and_the_prompt():
    conv = conversation("a", "b")
    p = plan(conv, None, use_history=False)
    assert sent(p) == ["Be brief.", "now"] and p.dropped_turns == 0
    assert p.context_tokens == SYSTEM_TOKENS


def test_fresh_sends_no_turns_and_commit_forgets_them():
    conv = conversation("a", "b")
    p = plan(conv, None, fresh=True)
    assert sent(p) == ["Be brief.", "now"] and p.dropped_turns == 0
    conv.commit(p, Message("assistant", "x"))
    assert [t.user.content for t in conv.turns] == ["now"]


def test_a_system_prompt_for_one_request_becomes_the_conversations_on_commit():
    conv = conversation("a")
    p = plan(conv, None, system="Answer in JSON.")
    assert p.messages[0] == {"role": "system", "content": "Answer in JSON."}
    assert conv.system == "Be brief."
    conv.commit(p, Message("assistant", "{}"))
    assert conv.system == "Answer in JSON."
    assert conv.messages[0].content == "Answer in JSON."


def test_no_system_prompt_sends_no_system_message():
    conv = conversation("a", system="")
    assert [m["role"] for m in plan(conv, None).messages] == ["user", "assistant", "user"]


def test_the_servers_prompt_count_becomes_the_prompts_exact_size():
    conv = conversation("a")
    p = plan(conv, None)
    conv.commit(p, Message("assistant", "x"), prompt_tokens=p.context_tokens + 42)
    user = conv.turns[-1].user
    assert (user.tokens, user.tokens_exact) == (42, True)


def test_a_server_count_no_larger_than_the_context_keeps_the_estimate():
    conv = conversation("a")
    p = plan(conv, None)
    estimate = p.user.tokens
    conv.commit(p, Message("assistant", "x"), prompt_tokens=p.context_tokens)
    assert (conv.turns[-1].user.tokens, conv.turns[-1].user.tokens_exact) == (estimate, False)


def test_reset_forgets_the_turns_but_keeps_the_system_prompt():
    conv = conversation("a", "b")
    conv.reset()
    assert conv.turns == [] and conv.system == "Be brief." and conv.tokens == 0


def test_a_message_without_a_count_is_estimated_and_one_with_a_count_keeps_it():
    assert Message("user", "hello there").tokens > 0
    assert Message("user", "hello there", tokens=99).tokens == 99


def test_the_dropped_tokens_are_those_of_the_oldest_turns():
    conv = Conversation(system="", turns=[turn("a", 5, 5), turn("b", 10, 10), turn("c", 15, 15)])
    p = plan(conv, fixed(conv) + 30)
    assert sent(p) == ["c?", "c!", "now"]
    assert (p.dropped_turns, p.dropped_tokens) == (2, 30)
