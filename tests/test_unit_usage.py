"""usage.py: the kernel's token total, the budget boundary, and the usage table."""

from __future__ import annotations

from gptmagic.usage import Usage, UsageLedger, UsageRecord


def ledger(*totals: int | None) -> UsageLedger:
    book = UsageLedger()
    for total in totals:
        usage = None if total is None else Usage(total - 1, 1, total)
        book.add(UsageRecord("chat", "m", usage, estimated_tokens=50))
    return book


def test_the_budget_refuses_on_reaching_it_not_one_token_before():
    book = ledger(60, 40)
    assert book.total.total_tokens == 100
    assert book.over_budget(100) and book.budget_refusal(100) is not None
    assert not book.over_budget(101) and book.budget_refusal(101) is None
    assert book.over_budget(99)


def test_no_budget_never_refuses():
    assert not ledger(10**9).over_budget(None)


def test_the_refusal_names_the_figures_and_the_way_out():
    refusal = ledger(1500).budget_refusal(1200)
    assert refusal == (
        "Token budget reached: this kernel used 1,500 of GPTMagic.token_budget = 1,200 "
        "tokens. Raise it with %config, or reset the count with %gpt usage --reset."
    )


def test_reset_zeroes_the_total_and_lifts_the_refusal():
    book = ledger(100)
    book.reset()
    assert book.total == Usage(0, 0, 0) and book.records == []
    assert book.budget_refusal(100) is None


def test_unreported_usage_is_not_added_to_the_total():
    book = ledger(30, None, None)
    assert book.total == Usage(29, 1, 30) and book.unreported == 2


def test_totals_add_each_field():
    assert Usage(1, 2, 3) + Usage(10, 20, 30) == Usage(11, 22, 33)


def test_usage_is_read_in_chat_and_images_naming():
    assert Usage.from_api({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 9}) == (
        Usage(3, 4, 9)
    )
    assert Usage.from_api({"input_tokens": 5, "output_tokens": 272}) == Usage(5, 272, 277)
    assert Usage.from_api(None) is None


def test_the_table_has_each_answer_and_the_kernel_total():
    book = UsageLedger()
    book.add(UsageRecord("chat", "gpt-a", Usage(1200, 34, 1234)))
    book.add(UsageRecord("image", "img-b", Usage(5, 272, 277)))
    book.add(UsageRecord("chat", "local", None, estimated_tokens=17))
    assert book.to_markdown().splitlines() == [
        "| # | kind | model | prompt | completion | total |",
        "|---|---|---|--:|--:|--:|",
        "| 1 | chat | gpt-a | 1,200 | 34 | 1,234 |",
        "| 2 | image | img-b | 5 | 272 | 277 |",
        "| 3 | chat | local | – | – | not reported (≈17 est.) |",
        "| **kernel** | | | **1,205** | **306** | **1,511** |",
        "",
        "1 answer(s) came from a server that reports no usage; they are not in the total.",
    ]


def test_an_empty_ledger_says_so():
    assert UsageLedger().to_markdown() == "No tokens used yet in this kernel."
