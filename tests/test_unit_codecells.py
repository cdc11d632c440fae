"""codecells.py: only whole code blocks are handed over; prose is never taken for code."""

from __future__ import annotations

from gptmagic.codecells import INSTRUCTION, ask_for_code, closed_blocks, extract_code, is_python


def test_a_block_cut_before_its_closing_fence_is_not_code():
    cut = "```python\nimport pandas as pd\nx = 1\n"
    assert closed_blocks(cut) == [] and extract_code(cut) == ""


def test_only_the_closed_blocks_of_an_answer_are_taken():
    answer = "```python\na = 1\n```\nthen\n```python\nb = 2\n"
    assert closed_blocks(answer) == [("python", "a = 1\n")]
    assert extract_code(answer) == "a = 1"


def test_a_fence_closes_only_with_its_own_character_and_length():
    assert closed_blocks("````python\na = 1\n```\n````") == [("python", "a = 1\n```\n")]
    assert closed_blocks("```python\na = 1\n~~~\n") == []


def test_indented_blocks_are_dedented():
    assert extract_code("1. Do:\n   ```python\n   y = 2\n   ```") == "y = 2"


def test_a_bare_name_or_constant_is_not_code():
    assert not is_python("Hello") and not is_python("42") and is_python("print(1)")


def test_the_instruction_follows_the_prompt():
    assert ask_for_code("Plot it") == "Plot it" + INSTRUCTION
