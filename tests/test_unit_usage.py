"""usage.py: the kernel's token total, the budget boundary, and the usage table."""

from __future__ import annotations

from gptmagic.usage import Usage, UsageLedger, UsageRecord


def ledger(*totals: int | None) -> UsageLedger:
    book = UsageLedger()
    for total in totals:
        usage = None if total is None else Usage(total - 1, 1, total)
        book.add(UsageRecord("chat", "m", usage, estimate=Usage(40, 10, 50)))
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


def test_unreported_usage_of_a_complete_answer_is_not_added_to_the_total():
    book = ledger(30, None, None)
    assert book.total == Usage(29, 1, 30) and book.unreported == 2 and book.estimated == 0


def test_a_cut_short_answer_counts_its_estimate_and_says_so():
    book = ledger(30)
    book.add(UsageRecord("chat", "m", None, estimate=Usage(40, 10, 50), status="interrupted"))
    assert book.total == Usage(69, 11, 80) and book.estimated == 50 and book.unreported == 0
    assert book.total_line() == "80 (≈50 of them estimated)"


def test_a_replayed_answer_is_not_billed():
    book = ledger(30)
    book.add(UsageRecord("chat", "m", Usage(5, 5, 10), status="replayed"))
    assert book.total == Usage(29, 1, 30) and book.replayed == Usage(5, 5, 10)


def test_totals_add_each_field():
    assert Usage(1, 2, 3) + Usage(10, 20, 30) == Usage(11, 22, 33)


def test_the_table_has_each_answer_and_the_kernel_total():
    book = UsageLedger()
    book.add(UsageRecord("chat", "gpt-a", Usage(1200, 34, 1234)))
    book.add(UsageRecord("image", "img-b", Usage(5, 272, 277)))
    book.add(UsageRecord("chat", "local", None, estimate=Usage(10, 7, 17)))
    assert book.to_markdown().splitlines() == [
        "| # | kind | model | prompt | completion | total | |",
        "|---|---|---|--:|--:|--:|---|",
        "| 1 | chat | gpt-a | 1,200 | 34 | 1,234 |  |",
        "| 2 | image | img-b | 5 | 272 | 277 |  |",
        "| 3 | chat | local | – | – | – | not reported by the server (≈17 est., not counted) |",
        "| **kernel** | | | **1,205** | **306** | **1,511** |  |",
        "",
        "1 answer(s) came from a server that reports no usage; they are not in the total.",
    ]


def test_an_empty_ledger_says_so():
    assert UsageLedger().to_markdown() == "No tokens used yet in this kernel."
