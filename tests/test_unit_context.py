"""context.py: which braces are read from the kernel, what is left as typed, what is refused."""

from __future__ import annotations

import types

import pytest

from gptmagic.context import interpolate, split_fences
from gptmagic.errors import GPTMagicError

NAMESPACE = {
    "x": 5,
    "obj": types.SimpleNamespace(public="pub", _private="secret"),
    "d": {"a": [10, 20, 30]},
}


def render(prompt: str, last_error=None) -> str:
    return interpolate(prompt, NAMESPACE, lambda value, label: f"<{value!r}>", lambda: last_error)


def refusal(prompt: str) -> str:
    with pytest.raises(GPTMagicError) as info:
        render(prompt)
    return str(info.value)


def test_names_attributes_and_literal_subscripts_are_read():
    assert render("{x} {obj.public} {d['a'][-1]} {d[\"a\"][0]}") == "<5> <'pub'> <30> <10>"


def test_a_private_attribute_is_refused_not_only_dunders():
    assert "private attribute '_private'" in refusal("{obj._private}")
    assert "private attribute '__class__'" in refusal("{x.__class__}")


def test_a_special_name_is_refused():
    assert "special name '__builtins__'" in refusal("{__builtins__}")


def test_an_unknown_name_is_refused_with_the_literal_brace_hint():
    message = refusal("Summarise {sales}")
    assert "Unknown name 'sales'" in message and "{{sales}}" in message


def test_a_failing_read_is_refused_in_one_line():
    assert refusal("{d['b']}").startswith("Cannot read {d['b']}: KeyError: 'b'.")


def test_last_error_is_read_only_when_there_is_one():
    assert render("why? {_error}", last_error="ZeroDivisionError") == "why? <'ZeroDivisionError'>"
    assert "no cell has raised one yet" in refusal("{_error}")


def test_an_unclosed_fence_is_code_to_the_end():
    prompt = "Fix this:\n```python\nprint(f'{missing}')\nx = {x}\n"
    assert render(prompt) == prompt
    assert split_fences(prompt) == [
        (False, "Fix this:\n"),
        (True, "```python\nprint(f'{missing}')\nx = {x}\n"),
    ]


def test_a_fence_is_closed_only_by_the_same_kind_and_length():
    prompt = "````\n{x}\n```\n{x}\n````\nafter {x}"
    assert render(prompt) == "````\n{x}\n```\n{x}\n````\nafter <5>"


def test_an_indented_fence_in_a_list_is_code():
    prompt = "1. Run:\n   ```python\n   print(f'{x}')\n   ```\n2. then {x}"
    assert render(prompt) == "1. Run:\n   ```python\n   print(f'{x}')\n   ```\n2. then <5>"
    unclosed = "1. Run:\n   ~~~\n   print(f'{x}')\n"
    assert render(unclosed) == unclosed


def test_prose_after_a_closed_fence_is_read():
    assert render("```\n{x}\n```\n{x}") == "```\n{x}\n```\n<5>"


def test_inline_code_spans_are_left_as_typed():
    assert render("`{x}` and ``a {x} b`` but {x}") == "`{x}` and ``a {x} b`` but <5>"


@pytest.mark.parametrize("typed", ["{}", '{"a": 1}', "{x: 1 for x in y}", "{x + 1}", "{0}"])
def test_braces_around_anything_but_a_name_are_left_as_typed(typed):
    assert render(typed) == typed


def test_double_braces_are_literal():
    assert render("{{x}} and {{ y }}") == "{x} and { y }"
    assert render("{'a': {'b': 1}}") == "{'a': {'b': 1}}"


def test_a_multi_line_rendering_is_a_block_with_a_blank_line_around_it():
    table = lambda value, label: "| a |\n| b |"  # noqa: E731
    assert interpolate("see {x} now", NAMESPACE, table) == "see \n\n| a |\n| b |\n\n now"
    assert interpolate("see\n\n{x}", NAMESPACE, table) == "see\n\n| a |\n| b |"
