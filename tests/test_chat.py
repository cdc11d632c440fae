"""%%gpt: streaming chat in a real IPython shell against the local server over HTTP."""

from __future__ import annotations

import pytest

from gptmagic.conversation import Message
from gptmagic.testing.server import Reply
from tests.conftest import KEY, dispose_shell, make_shell, run


def sent(server, i=-1):
    return server.chat_requests[i].body


def test_answer_becomes_one_markdown_output_with_provenance(shell, outputs, server):
    run(shell, "%%gpt\nWhat is a DataFrame?")
    assert len(outputs.outputs) == 1
    final = outputs.outputs[0]
    assert "you said *What is a DataFrame?*" in final["data"]["text/markdown"]
    assert final["data"]["text/plain"].startswith("Answer 1 from gpt-4o-mini")
    meta = final["metadata"]["gptmagic"]
    assert meta["model"] == "gpt-4o-mini"
    assert meta["finish_reason"] == "stop"
    assert meta["usage"]["completion_tokens"] > 0
    assert meta["host"] == server.url.removeprefix("http://")


def test_plain_text_is_the_answer_itself(shell, outputs):
    run(shell, "%%gpt\nhello")
    plain = outputs.outputs[0]["data"]["text/plain"]
    assert "Markdown object" not in plain and "tokens" not in plain


def test_request_streams_with_usage_and_sends_only_set_parameters(shell, server):
    run(shell, "%%gpt\nhello")
    body = sent(server)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert not {"temperature", "top_p", "max_tokens", "n"} & set(body)


def test_follow_up_carries_the_conversation(shell, server):
    run(shell, "%%gpt\nfirst question")
    run(shell, "%%gpt\nsecond question")
    roles = [m["role"] for m in sent(server)["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert sent(server)["messages"][1]["content"].startswith("Answer 1")


def test_new_starts_a_fresh_conversation(shell, server):
    run(shell, "%%gpt\nfirst")
    run(shell, "%%gpt --new\nsecond")
    assert sent(server)["messages"] == [{"role": "user", "content": "second"}]


def test_no_history_sends_system_and_prompt_and_stores_nothing(shell, server):
    run(shell, "%config GPTMagic.system_prompt = 'Be brief.'")
    run(shell, "%%gpt\nfirst")
    run(shell, "%%gpt --no-history\none-off")
    assert [m["role"] for m in sent(server)["messages"]] == ["system", "user"]
    run(shell, "%%gpt\nthird")
    contents = [m["content"] for m in sent(server)["messages"]]
    assert "one-off" not in contents and "first" in contents


def test_system_option_replaces_the_system_prompt_until_changed(shell, server):
    run(shell, "%%gpt -s 'Answer in JSON.'\nfirst")
    run(shell, "%%gpt\nsecond")
    assert sent(server)["messages"][0] == {"role": "system", "content": "Answer in JSON."}


def test_reset_forgets_turns_but_keeps_the_system_prompt(shell, server):
    run(shell, "%config GPTMagic.system_prompt = 'You are terse.'")
    run(shell, "%%gpt\nfirst")
    run(shell, "%gpt reset")
    run(shell, "%%gpt\nsecond")
    assert sent(server)["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "second"},
    ]


def test_cell_options_override_kernel_settings_for_that_cell_only(shell, server):
    run(shell, "%config GPTMagic.temperature = 1.2")
    run(shell, "%config GPTMagic.model = 'gpt-4o'")
    run(shell, "%%gpt -t 0 -m gpt-4.1 --top-p 0.5 --max-tokens 50\nx")
    assert {k: sent(server)[k] for k in ("temperature", "model", "top_p", "max_tokens")} == {
        "temperature": 0,
        "model": "gpt-4.1",
        "top_p": 0.5,
        "max_tokens": 50,
    }
    run(shell, "%%gpt\ny")
    assert sent(server)["temperature"] == 1.2 and sent(server)["model"] == "gpt-4o"
    assert "top_p" not in sent(server) and "max_tokens" not in sent(server)


def test_config_file_sets_kernel_defaults(env):
    from traitlets.config import Config

    config = Config()
    config.GPTMagic.model = "gpt-4.1"
    config.GPTMagic.temperature = 0.3
    ip = make_shell(config)
    ip.run_line_magic("load_ext", "gptmagic")
    ip.run_cell("%%gpt\nhello")
    body = env.chat_requests[-1].body
    dispose_shell(ip)
    assert (body["model"], body["temperature"]) == ("gpt-4.1", 0.3)


def test_config_file_system_prompt_starts_the_conversation(env):
    from traitlets.config import Config

    config = Config()
    config.GPTMagic.system_prompt = "Be brief."
    ip = make_shell(config)
    ip.run_line_magic("load_ext", "gptmagic")
    ip.run_cell("%%gpt\nhello")
    first = env.chat_requests[-1].body["messages"][0]
    dispose_shell(ip)
    assert first == {"role": "system", "content": "Be brief."}


def test_reload_keeps_a_system_prompt_set_with_the_s_option(shell, server):
    run(shell, "%config GPTMagic.system_prompt = 'Default.'")
    run(shell, "%%gpt -s 'Cell choice.'\nhello")
    run(shell, "%reload_ext gptmagic")
    run(shell, "%%gpt\nagain")
    assert server.chat_requests[-1].body["messages"][0]["content"] == "Cell choice."


def test_length_finish_shows_a_visible_note(shell, outputs):
    run(shell, "%%gpt --max-tokens 3\nexplain everything")
    markdown = outputs.markdown()[0]
    assert "cut by max_tokens = 3" in markdown
    assert outputs.outputs[0]["metadata"]["gptmagic"]["finish_reason"] == "length"


def test_several_answers_share_one_output_and_the_first_is_kept(shell, outputs, server):
    # The server answers choice 1 with the text plus " (variant 1)".
    server.enqueue(Reply(text="red"))
    run(shell, "%%gpt -n 2\nname a colour")
    assert sent(server)["n"] == 2
    markdown = outputs.markdown()[0]
    assert "**Answer 1**" in markdown and "**Answer 2**" in markdown
    plain = outputs.outputs[0]["data"]["text/plain"]
    assert "--- Answer 2 ---" in plain and "**" not in plain
    assert "red (variant 1)" in plain
    run(shell, "%%gpt\nand another")
    history = sent(server)["messages"]
    assert [m["content"] for m in history] == ["name a colour", "red", "and another"]


def test_out_with_several_answers_stores_all_of_them_in_order(shell, server):
    server.enqueue(Reply(text="red"))
    run(shell, "%%gpt -n 3 -o colours\nname a colour")
    assert shell.user_ns["colours"] == ["red", "red (variant 1)", "red (variant 2)"]


@pytest.mark.parametrize("n", [2, 3])
def test_server_ignoring_n_is_reported(shell, outputs, server, n):
    server.enqueue(Reply(ignore_n=True))
    run(shell, f"%%gpt -n {n}\nname a colour")
    assert f"Asked for {n} answers; the server returned 1" in outputs.markdown()[0]


def test_all_answers_returned_means_no_note(shell, outputs, server):
    run(shell, "%%gpt -n 2\nname a colour")
    assert "Asked for" not in outputs.markdown()[0]


def test_missing_usage_is_said_not_shown_as_zero(shell, outputs, server):
    server.enqueue(Reply(usage="never"))
    run(shell, "%%gpt\nhello")
    assert "usage not reported by the server" in outputs.markdown()[0]
    assert outputs.outputs[0]["metadata"]["gptmagic"]["usage"] is None


def test_usage_sent_inside_a_content_chunk_is_counted(shell, outputs, server):
    server.enqueue(Reply(usage="in_last_chunk"))
    run(shell, "%%gpt\nhello")
    assert outputs.outputs[0]["metadata"]["gptmagic"]["usage"]["total_tokens"] > 0


def test_ping_comments_in_the_stream_are_ignored(shell, outputs, server):
    server.enqueue(Reply(text="pong answer", ping=True))
    run(shell, "%%gpt\nhello")
    assert outputs.outputs[0]["data"]["text/plain"] == "pong answer"


def test_out_stores_the_answer_in_a_variable(shell):
    run(shell, "%%gpt -o answer\nhello")
    assert shell.user_ns["answer"].startswith("Answer 1")


def test_no_stream_waits_for_the_whole_answer(shell, outputs, server):
    run(shell, "%%gpt --no-stream\nhello")
    assert "stream" not in sent(server)
    assert outputs.outputs[0]["data"]["text/plain"].startswith("Answer 1")


def test_dry_run_shows_the_request_and_sends_nothing(shell, outputs, server):
    run(shell, "%%gpt --dry-run -t 0.5\nhello")
    assert server.chat_requests == []
    markdown = outputs.markdown()[0]
    assert '"temperature": 0.5' in markdown and "estimate" in markdown


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("-t 5", "between 0 and 2"),
        ("-t hot", "expected a number"),
        ("--top-p 1.5", "between 0 and 1"),
        ("--max-tokens -1", "greater than 0"),
        ("--max-tokens 0", "greater than 0"),
        ("-n 0", "greater than 0"),
        ("-o 1abc", "not a valid Python variable name"),
        ("--bogus", "unrecognized arguments"),
    ],
)
def test_bad_options_give_one_line_and_send_nothing(shell, server, capsys, options, message):
    result = run(shell, f"%%gpt {options}\nhello")
    err = capsys.readouterr().err
    assert not result.success
    assert err.startswith("UsageError:") and message in err and "Traceback" not in err
    assert server.chat_requests == []


def test_the_top_of_each_range_is_accepted_as_an_option_and_sent(shell, server):
    assert run(shell, "%%gpt -t 2 --top-p 1 --max-tokens 1 -n 1\nhello").success
    body = sent(server)
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (2, 1, 1)


def test_the_top_of_each_range_is_accepted_as_a_setting_and_sent(shell, server, caplog):
    run(shell, "%config GPTMagic.temperature = 2")
    run(shell, "%config GPTMagic.top_p = 1")
    run(shell, "%config GPTMagic.max_tokens = 1")
    assert "must be" not in caplog.text
    run(shell, "%%gpt\nhello")
    body = sent(server)
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (2, 1, 1)


@pytest.mark.parametrize(
    "name",
    [
        "In",
        "Out",
        "get_ipython",
        "exit",
        "_oh",
        "_",
        "_i3",
        "_7",
        "__builtins__",
        "for",
        "_exit_code",
    ],
)
def test_out_refuses_a_name_ipython_owns_or_python_reserves(shell, server, capsys, name):
    """``-o In`` or ``-o get_ipython`` stored the answer over IPython's own variable: the
    history list was lost, or every later cell failed with a TypeError."""
    result = run(shell, f"%%gpt -o {name}\nhello")
    err = capsys.readouterr().err
    assert not result.success and err.startswith("UsageError: argument -o/--out:")
    assert repr(name) in err and "Traceback" not in err
    assert server.chat_requests == []
    assert callable(shell.user_ns["get_ipython"]) and isinstance(shell.user_ns["In"], list)
    assert run(shell, "%%gpt -o answer_1\nhello").success  # any other name is stored
    assert run(shell, "%%gpt -o résumé\nhello").success  # a Python name, though not ASCII
    assert run(shell, "%%gpt -o _summary\nhello").success  # IPython's own are _, _5, _i5...
    assert shell.user_ns["answer_1"].startswith("Answer 1")
    assert shell.user_ns["résumé"].startswith("Answer 2")
    assert shell.user_ns["_summary"].startswith("Answer 3")


def test_empty_prompt_is_refused(shell, server, capsys):
    result = run(shell, "%%gpt\n   \n")
    assert not result.success and "prompt is empty" in capsys.readouterr().err
    assert server.chat_requests == []


def conversation(shell):
    return shell.magics_manager.registry["GPTMagic"].session.conversation


def test_trimming_sends_the_newest_turns_and_forgets_the_dropped_ones(shell, outputs, server):
    for i in range(4):
        server.enqueue(Reply(text=f"answer {i}"))
        run(shell, f"%%gpt\nquestion {i}")
    turns = conversation(shell).turns
    # Room for exactly the two newest turns beside the prompt ("question 4"), not one more.
    budget = sum(t.tokens for t in turns[2:]) + Message("user", "question 4").tokens
    run(shell, f"%config GPTMagic.history_max_tokens = {budget}")
    run(shell, "%%gpt\nquestion 4")
    contents = [m["content"] for m in sent(server)["messages"]]
    assert contents[:4] == ["question 2", "answer 2", "question 3", "answer 3"]
    assert contents[-1] == "question 4" and len(contents) == 5
    assert "Dropped the 2 oldest turn(s)" in outputs.markdown()[-1]
    kept = [t.user.content for t in conversation(shell).turns]
    assert kept == ["question 2", "question 3", "question 4"]


def test_a_stored_turn_is_measured_by_the_servers_usage(shell, server):
    # The local server counts "hello" as 1 + 3 prompt tokens, "one two three" as 3.
    server.enqueue(Reply(text="one two three"))
    run(shell, "%%gpt\nhello")
    (turn,) = conversation(shell).turns
    assert (turn.user.tokens, turn.user.tokens_exact) == (4, True)
    assert (turn.assistant.tokens, turn.assistant.tokens_exact) == (3, True)


def test_with_several_answers_the_kept_one_is_estimated_not_charged_for_all(shell, server):
    server.enqueue(Reply(text="one two three"))
    run(shell, "%%gpt -n 3\nhello")
    (turn,) = conversation(shell).turns
    assert turn.assistant.tokens == Message("assistant", "one two three").tokens
    assert not turn.assistant.tokens_exact


def test_history_is_trimmed_to_the_budget_with_a_notice(shell, outputs, server):
    run(shell, "%config GPTMagic.history_max_tokens = 120")
    for i in range(4):
        run(shell, f"%%gpt\nquestion number {i} " + "word " * 40)
    markdown = outputs.markdown()[-1]
    assert "Dropped the" in markdown and "history_max_tokens = 120" in markdown
    contents = [m["content"] for m in sent(server)["messages"]]
    assert not any(c.startswith("question number 0") for c in contents)


@pytest.mark.parametrize(("budget", "requests"), [(7, 1), (8, 2)])
def test_token_budget_refuses_on_reaching_it_not_before(shell, server, budget, requests):
    # "hello" is 1 + 3 prompt tokens at the local server, "one two three" 3 completion tokens.
    server.enqueue(Reply(text="one two three"))
    run(shell, f"%config GPTMagic.token_budget = {budget}")
    assert run(shell, "%%gpt\nhello").success
    assert shell.magics_manager.registry["GPTMagic"].session.usage.total.total_tokens == 7
    assert run(shell, "%%gpt\nagain").success == (requests == 2)
    assert len(server.chat_requests) == requests


def test_usage_reset_zeroes_the_total_and_lifts_the_budget(shell, server, capsys):
    run(shell, "%config GPTMagic.token_budget = 5")
    run(shell, "%%gpt\nhello")
    assert not run(shell, "%%gpt\nagain").success
    run(shell, "%gpt usage --reset")
    assert shell.magics_manager.registry["GPTMagic"].session.usage.total.total_tokens == 0
    assert run(shell, "%%gpt\nagain").success
    assert len(server.chat_requests) == 2


def test_token_budget_refuses_further_requests(shell, server, capsys):
    run(shell, "%config GPTMagic.token_budget = 10")
    run(shell, "%%gpt\nhello")
    result = run(shell, "%%gpt\nagain")
    assert not result.success and "Token budget reached" in capsys.readouterr().err
    assert len(server.chat_requests) == 1


def test_bad_config_values_are_refused(shell, caplog):
    run(shell, "%config GPTMagic.temperature = 3")
    assert "GPTMagic.temperature must be between 0 and 2" in caplog.text
    assert shell.magics_manager.registry["GPTMagic"].temperature is None


def test_terminal_mode_prints_the_answer_as_it_comes(shell, server, capsys):
    run(shell, "%config GPTMagic.display = 'text'")
    server.enqueue(Reply(text="streamed to the terminal"))
    run(shell, "%%gpt\nhello")
    assert "streamed to the terminal" in capsys.readouterr().out


def test_reload_keeps_the_conversation_and_settings(shell, server):
    run(shell, "%%gpt\nremember me")
    magic = shell.magics_manager.registry["GPTMagic"]
    magic.model = "gpt-4.1"  # as the panel would
    run(shell, "%reload_ext gptmagic")
    run(shell, "%%gpt\nstill there?")
    assert sent(server)["model"] == "gpt-4.1"
    assert sent(server)["messages"][0]["content"] == "remember me"


def test_api_key_is_not_a_setting_and_never_printed(shell, capsys):
    run(shell, "%config GPTMagic")
    run(shell, "%gpt")
    magic = shell.magics_manager.registry["GPTMagic"]
    out = capsys.readouterr()
    assert KEY not in out.out + out.err + repr(magic.session) + repr(magic.trait_values())
    assert "api_key" not in magic.trait_names()


@pytest.mark.parametrize(
    ("trait", "value", "message"),
    [
        ("timeout", "float('nan')", "GPTMagic.timeout must be a finite number > 0"),
        ("timeout", "float('inf')", "GPTMagic.timeout must be a finite number > 0"),
        ("timeout", "0", "GPTMagic.timeout must be a finite number > 0"),
        ("max_tokens", "0", "GPTMagic.max_tokens must be > 0 (or None)"),
        ("temperature", "float('nan')", "GPTMagic.temperature must be between 0 and 2"),
        ("top_p", "float('nan')", "GPTMagic.top_p must be between 0 and 1"),
        ("top_p", "float('inf')", "GPTMagic.top_p must be between 0 and 1"),
    ],
)
def test_nan_inf_and_zero_are_refused_and_the_setting_is_kept(
    shell, server, caplog, trait, value, message
):
    magic = shell.magics_manager.registry["GPTMagic"]
    before = getattr(magic, trait)
    run(shell, f"%config GPTMagic.{trait} = {value}")
    assert message in caplog.text
    assert getattr(magic, trait) == before
    assert run(shell, "%%gpt\nstill works").success
