"""%%gpt through each API and provider: the same cell, the same outputs, a different wire format.

The Chat Completions path is pinned by the rest of the suite; these tests run real cells with
``GPTMagic.api = "responses"`` and with Azure's client, against the local server's
``/v1/responses`` and Azure paths, through the real SDK.
"""

from __future__ import annotations

import json

import pytest

from gptmagic.testing.server import FakeOpenAI, Reply
from tests.conftest import AZURE_API_VERSION as VERSION
from tests.conftest import KEY, interrupt_when, run


def final(outputs) -> dict:
    """The cell's one final output (with gptmagic provenance)."""
    finals = [o for o in outputs.outputs if "gptmagic" in o["metadata"]]
    assert len(finals) == 1, outputs.outputs
    return finals[0]


@pytest.fixture
def responses(shell):
    run(shell, "%config GPTMagic.api = 'responses'")
    return shell


def test_a_responses_answer_streams_into_the_cell_and_is_kept(responses, server, outputs):
    server.enqueue(Reply(text="Two words.", chunk_delay=0.01))
    run(responses, "%%gpt\nSay two words.")
    request = server.responses_requests[-1]
    assert request.path == "/v1/responses"
    assert request.body["input"] == [{"role": "user", "content": "Say two words."}]
    assert request.body["stream"] is True
    out = final(outputs)
    assert out["data"]["text/plain"] == "Two words."
    assert out["metadata"]["gptmagic"]["status"] == "complete"
    assert not server.chat_requests
    magic = responses.magics_manager.registry["GPTMagic"]
    turn = magic.session.conversation.turns[-1]
    assert (turn.user.content, turn.assistant.content) == ("Say two words.", "Two words.")


def test_a_follow_up_sends_the_history_as_input_items(responses, server):
    server.enqueue(Reply(text="First."), Reply(text="Second."))
    run(responses, "%gpt reset")
    run(responses, "%%gpt -s 'Be brief.'\nOne?")
    run(responses, "%%gpt\nTwo?")
    body = server.responses_requests[-1].body
    assert body["instructions"] == "Be brief."
    assert body["input"] == [
        {"role": "user", "content": "One?"},
        {"role": "assistant", "content": "First."},
        {"role": "user", "content": "Two?"},
    ]


def test_reasoning_effort_is_sent_and_its_tokens_and_summary_are_shown(responses, server, outputs):
    server.enqueue(Reply(text="Forty-two."))
    run(responses, "%%gpt -m o-reason --reasoning high\nThe answer?")
    body = server.responses_requests[-1].body
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["usage"]["reasoning_tokens"] == 48
    assert meta["parameters"]["reasoning"] == "high"
    assert ", 48 of it reasoning)" in meta["footer"]
    summaries = [n for n in meta["notes"] if n.startswith("💭 Reasoning summary: ")]
    assert len(summaries) == 1
    assert final(outputs)["data"]["text/plain"] == "Forty-two."  # the summary is not the answer


def test_no_reasoning_effort_is_sent_unless_asked(responses, server):
    server.enqueue(Reply(text="Hi."))
    run(responses, "%%gpt\nHi")
    assert "reasoning" not in server.responses_requests[-1].body


def test_a_model_that_refuses_temperature_is_adapted_once_and_remembered(responses, server):
    server.enqueue(Reply(text="One."), Reply(text="Two."))
    run(responses, "%%gpt -m o-reason -t 0.5\nOne")
    run(responses, "%%gpt -m o-reason -t 0.5\nTwo")
    bodies = [r.body for r in server.responses_requests]
    assert ["temperature" in b for b in bodies] == [True, False, False]


def test_n_above_one_is_refused_before_sending(responses, server):
    result = run(responses, "%%gpt -n 2\nTwo answers")
    assert "one answer per request" in str(result.error_in_exec)
    assert not server.responses_requests


@pytest.mark.parametrize("how", ["option", "setting"])
def test_a_reasoning_effort_on_chat_is_refused_before_sending(shell, server, how):
    """Chat Completions sends no reasoning effort: silently dropping it would leave
    ``reasoning=high`` in the provenance of an answer that never asked for it."""
    server.enqueue(Reply(text="First."))
    run(shell, "%%gpt\nFirst")
    if how == "setting":
        run(shell, "%config GPTMagic.reasoning = 'high'")
    option = " --reasoning high" if how == "option" else ""
    result = run(shell, f"%%gpt -m o-reason{option}\nThink hard")
    assert str(result.error_in_exec) == (
        "A reasoning effort (--reasoning or GPTMagic.reasoning) is sent only with "
        "GPTMagic.api = 'responses'; set that, or leave the effort out for chat."
    )
    assert len(server.chat_requests) == 1  # the first cell's only
    magic = shell.magics_manager.registry["GPTMagic"]
    assert [t.user.content for t in magic.session.conversation.turns] == ["First"]


def test_max_output_tokens_cut_is_told_like_chat(responses, server, outputs):
    server.enqueue(Reply(tokens=40, finish_reason="length"))
    run(responses, "%%gpt --max-tokens 20\nLong")
    assert server.responses_requests[-1].body["max_output_tokens"] == 20
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["finish_reason"] == "length"
    assert any("max_tokens = 20" in n for n in meta["notes"])


def test_a_failed_response_event_ends_the_answer_as_incomplete(responses, server, outputs):
    server.enqueue(Reply(tokens=10, fail_after=3))
    result = run(responses, "%%gpt\nStory")
    assert "The answer is incomplete" in str(result.error_in_exec)
    assert final(outputs)["metadata"]["gptmagic"]["status"] == "incomplete"
    magic = responses.magics_manager.registry["GPTMagic"]
    assert not magic.session.conversation.turns


def test_ctrl_c_during_a_responses_stream_keeps_the_partial_answer_marked_interrupted(
    responses, server, outputs
):
    # The server sends one delta, then holds the stream: Ctrl-C lands at a known point.
    server.enqueue(Reply(text="Once upon a time", stall=30))
    interrupt_when(server.when_sent(1), outputs.when_shown("Once"))
    result = run(responses, "%%gpt\ntell me a long story")
    assert "Interrupted" in str(result.error_in_exec)
    out = final(outputs)
    assert out["data"]["text/plain"] == "Once "
    assert out["metadata"]["gptmagic"]["status"] == "interrupted"
    [turn] = responses.magics_manager.registry["GPTMagic"].session.conversation.turns
    assert turn.assistant.content == "Once " and turn.assistant.meta["status"] == "interrupted"
    assert len(server.responses_requests) == 1


def test_dry_run_shows_the_responses_path_and_body(responses, server, outputs):
    run(responses, "%%gpt --dry-run -m o-reason --reasoning low\nCheck")
    text = outputs.outputs[-1]["data"]["text/plain"]
    assert "/v1/responses," in text
    body = json.loads(text.split("----- the request body -----\n", 1)[1])
    assert body["input"][-1] == {"role": "user", "content": "Check"}
    assert body["reasoning"]["effort"] == "low"
    assert not server.responses_requests


def test_a_responses_answer_is_recorded_and_replayed_apart_from_chat(shell, server, tmp_path):
    cache = tmp_path / "r.gptcache.jsonl"
    run(shell, f"%config GPTMagic.cache = {str(cache)!r}")
    run(shell, "%config GPTMagic.api = 'responses'")
    server.enqueue(Reply(text="Recorded."))
    run(shell, "%%gpt --no-history\nSame prompt")
    assert len(server.responses_requests) == 1
    record = json.loads(cache.read_text().splitlines()[-1])
    assert record["request"]["api"] == "responses"
    run(shell, "%%gpt --no-history\nSame prompt")
    assert len(server.responses_requests) == 1  # replayed, nothing sent
    run(shell, "%config GPTMagic.api = 'chat'")
    server.enqueue(Reply(text="From chat."))
    run(shell, "%%gpt --no-history\nSame prompt")
    assert len(server.chat_requests) == 1  # another API is another recording


def test_azure_sends_the_deployment_version_and_api_key_header(azure_shell, server, outputs):
    server.enqueue(Reply(text="From Azure."))
    run(azure_shell, "%%gpt -m gpt-4o\nHello")
    request = server.chat_requests[-1]
    assert request.path == "/openai/deployments/gpt-4o/chat/completions"
    assert request.query == {"api-version": VERSION}
    assert "authorization" not in request.headers
    assert final(outputs)["data"]["text/plain"] == "From Azure."
    host = server.url.removeprefix("http://")
    assert final(outputs)["metadata"]["gptmagic"]["host"] == host


def test_azure_with_the_responses_api(azure_shell, server, outputs):
    run(azure_shell, "%config GPTMagic.api = 'responses'")
    server.enqueue(Reply(text="Responses on Azure."))
    run(azure_shell, "%%gpt -m gpt-4o\nHello")
    assert server.responses_requests[-1].path == "/openai/responses"
    assert final(outputs)["data"]["text/plain"] == "Responses on Azure."


def test_an_azure_key_echoed_by_the_server_is_masked(azure_shell, server, outputs):
    server.enqueue(Reply(status=400, error={"error": {"message": f"bad key {KEY}"}}))
    result = run(azure_shell, "%%gpt -m gpt-4o\nHello")
    assert KEY not in str(result.error_in_exec)
    assert "***" in str(result.error_in_exec)


def test_azure_without_an_api_version_is_one_line_and_sends_nothing(
    azure_shell, server, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_VERSION")
    result = run(azure_shell, "%%gpt -m gpt-4o\nHello")
    assert "needs an API version" in str(result.error_in_exec)
    assert not server.chat_requests


def test_azure_goes_to_azure_openai_endpoint_even_with_openai_base_url_set(
    azure_shell, server, outputs, monkeypatch
):
    """OPENAI_BASE_URL is often set for another server (a gateway, Ollama); with provider
    'azure' the Azure key and prompt must go to AZURE_OPENAI_ENDPOINT, never there."""
    with FakeOpenAI(lifetime=60) as other:
        monkeypatch.setenv("OPENAI_BASE_URL", other.base_url)
        server.enqueue(Reply(text="From Azure."))
        assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
        assert other.requests == []
    [request] = server.chat_requests
    assert request.path == "/openai/deployments/gpt-4o/chat/completions"
    assert final(outputs)["metadata"]["gptmagic"]["host"] == server.url.removeprefix("http://")


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_azure_dry_run_shows_the_url_the_request_really_goes_to(
    azure_shell, server, outputs, api
):
    """A URL copied from the portal (with a key pasted into its query) is cut to the resource:
    the dry run names the deployment's path and the api-version sent, never the query."""
    portal = f"{server.url}/openai/deployments/gpt-4o/chat/completions?api-version={VERSION}"
    run(azure_shell, f"%config GPTMagic.base_url = '{portal}&api-key=PASTED-KEY-1234'")
    run(azure_shell, f"%config GPTMagic.api = '{api}'")
    run(azure_shell, "%%gpt -m gpt-4o --dry-run\nHello")
    shown = outputs.outputs[-1]["data"]["text/plain"].split("\n")[0]
    assert "PASTED-KEY" not in shown
    server.enqueue(Reply(text="Sent."))
    run(azure_shell, "%%gpt -m gpt-4o\nHello")
    [request] = server.requests
    sent = f"{server.url}{request.path}?api-version={request.query['api-version']}"
    assert shown.startswith(f"Dry run: nothing sent. POST {sent}, ≈")
    assert "PASTED-KEY" not in str(request.query)


@pytest.mark.parametrize(
    ("endpoint", "line"),
    [
        (
            "myres.openai.azure.com",
            "The server address 'myres.openai.azure.com' has no http:// or https:// in front: "
            "write it in full (https://myres.openai.azure.com, or http:// for a local server) "
            "in GPTMagic.base_url or AZURE_OPENAI_ENDPOINT.",
        ),
        (
            "http://myres.openai.azure.com",
            "Azure OpenAI resources answer over https only; http://myres.openai.azure.com "
            "would send the key unencrypted. Use https://myres.openai.azure.com.",
        ),
    ],
)
def test_an_azure_endpoint_without_https_is_one_line_before_anything_is_sent(
    azure_shell, server, monkeypatch, endpoint, line
):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    result = run(azure_shell, "%%gpt -m gpt-4o\nHello")
    assert str(result.error_in_exec) == line


def test_azure_without_an_endpoint_is_one_line_before_asking(
    azure_shell, server, outputs, monkeypatch
):
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    result = run(azure_shell, "%%gpt -m gpt-4o\nHello")
    assert str(result.error_in_exec) == (
        "Azure OpenAI needs its endpoint: set AZURE_OPENAI_ENDPOINT "
        "(https://NAME.openai.azure.com) or GPTMagic.base_url."
    )
    assert not any("Asking" in json.dumps(m) for m in outputs.messages)  # no "at …" shown
    assert server.requests == []


def test_status_says_the_azure_endpoint_is_not_set_and_what_to_set(
    azure_shell, capsys, monkeypatch
):
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    capsys.readouterr()
    run(azure_shell, "%gpt")
    line = capsys.readouterr().out
    assert line.startswith(
        "gptmagic: model gpt-4o-mini via azure, endpoint not set (set AZURE_OPENAI_ENDPOINT "
        "or GPTMagic.base_url) · conversation 0 turn(s)"
    )


def test_auto_picks_azure_only_for_an_azure_host():
    from gptmagic.client import Endpoint

    azure = Endpoint.resolve("https://res.openai.azure.com", "", 60)
    other = Endpoint.resolve("https://openai.azure.com.example.org/v1", "", 60)
    assert (azure.provider, other.provider) == ("azure", "openai")
    forced = Endpoint.resolve("http://127.0.0.1:9/v1", "", 60, provider="azure")
    assert forced.provider == "azure"


def test_status_names_the_api_and_the_provider_and_its_key_variable(azure_shell, capsys):
    run(azure_shell, "%config GPTMagic.api = 'responses'")
    capsys.readouterr()
    run(azure_shell, "%gpt")
    line = capsys.readouterr().out
    assert "(responses API) via azure at 127.0.0.1:" in line
    assert "key from AZURE_OPENAI_API_KEY" in line and KEY not in line


def test_status_with_azure_says_a_key_typed_with_gpt_key_is_the_one_sent(
    azure_shell, server, capsys, monkeypatch
):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-the-server-refuses-0000")
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY)
    assert run(azure_shell, "%gpt key").success
    capsys.readouterr()
    run(azure_shell, "%gpt")
    line = capsys.readouterr().out
    assert " · key typed with %gpt key.  " in line and KEY not in line
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success  # the typed key is the one sent


def test_forgetting_a_typed_key_with_azure_names_azures_key_variable_as_the_one_now_used(
    azure_shell, server, capsys, monkeypatch
):
    monkeypatch.setattr("getpass.getpass", lambda prompt: "typed-key-the-server-refuses-000")
    assert run(azure_shell, "%gpt key").success
    capsys.readouterr()
    assert run(azure_shell, "%gpt key --forget").success
    assert capsys.readouterr().out == ("Typed key forgotten; key now: from AZURE_OPENAI_API_KEY.\n")
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success  # that key is the one sent


def test_typing_a_key_with_azure_says_it_replaces_azures_key_not_openais(
    azure_shell, capsys, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-key-azure-never-reads-0")
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY)
    capsys.readouterr()
    assert run(azure_shell, "%gpt key").success
    assert capsys.readouterr().out == (
        "API key set for this kernel, used instead of AZURE_OPENAI_API_KEY (not saved anywhere).\n"
    )


def test_status_of_plain_chat_names_neither(shell, capsys):
    run(shell, "%gpt")
    line = capsys.readouterr().out
    assert "API)" not in line and " via " not in line and "key from OPENAI_API_KEY" in line


SUMMARY = "💭 Reasoning summary: **Reading the question** The user said *The answer?*; be brief."
SPENT = "68 tokens (5 prompt + 63 completion, 48 of it reasoning)"


@pytest.fixture
def recorded(responses, server, outputs, tmp_path):
    """A --reasoning answer recorded in a replay cache; returns (cache path, its output)."""
    cache = tmp_path / "x.gptcache.jsonl"
    run(responses, f"%config GPTMagic.cache = {str(cache)!r}")
    run(responses, "%%gpt -m o-reason --reasoning high\nThe answer?")
    original = final(outputs)
    meta = original["metadata"]["gptmagic"]
    assert meta["notes"] == [SUMMARY]
    assert meta["footer"] == f"o-reason · {SPENT} · kernel total 68"
    [record] = [json.loads(line) for line in cache.read_text().splitlines()]
    said = "**Reading the question**\n\nThe user said *The answer?*; be brief."
    assert record["answer"]["reasoning"] == said  # as the server sent it; shown folded
    run(responses, "%gpt reset")
    run(responses, "%config GPTMagic.cache_mode = 'replay'")
    outputs.outputs.clear()
    return cache, original


def test_a_replayed_reasoning_answer_shows_its_summary_and_reasoning_tokens(
    responses, server, outputs, recorded
):
    cache, original = recorded
    assert run(responses, "%%gpt -m o-reason --reasoning high\nThe answer?").success
    assert len(server.responses_requests) == 1  # nothing sent
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["replayed"] is True
    assert meta["notes"][1:] == [SUMMARY]
    assert meta["notes"][0].startswith(f"↻ Replayed from {cache.name}")
    assert meta["footer"] == (
        "o-reason · replayed (68 tokens when recorded, 48 of it reasoning): not billed, "
        "not counted · kernel total 68"
    )
    assert meta["usage"] == original["metadata"]["gptmagic"]["usage"]
    assert final(outputs)["data"]["text/markdown"].startswith(
        f"> {meta['notes'][0]}\n\n> {SUMMARY}\n\n"
    )
    assert final(outputs)["data"]["text/plain"] == original["data"]["text/plain"]
    magic = responses.magics_manager.registry["GPTMagic"]
    [turn] = magic.session.conversation.turns  # the history keeps what the original kept
    kept, was = turn.assistant.meta, original["metadata"]["gptmagic"]
    assert kept["notes"][1:] == was["notes"] and kept["usage"] == was["usage"]
    assert turn.assistant.content == original["data"]["text/plain"]
    run(responses, "%gpt usage")
    table = outputs.outputs[-1]["data"]["text/plain"]
    assert "| 2 | chat | o-reason | (5) | (63) | (68) | replayed: not billed" in table
    assert "| **kernel** | | | **5** | **63** | **68** |" in table


def test_a_reasoning_recording_without_its_summary_still_replays(
    responses, server, outputs, recorded
):
    """A record made before summaries were kept, or with its reasoning count spoiled by hand,
    replays its answer (a summary that is not text: see test_cache's HOSTILE lines)."""
    cache, original = recorded
    record = json.loads(cache.read_text())
    record["answer"].pop("reasoning", None)
    record["answer"]["usage"]["reasoning_tokens"] = "lots"
    cache.write_text(json.dumps(record) + "\n")
    assert run(responses, "%%gpt -m o-reason --reasoning high\nThe answer?").success
    meta = final(outputs)["metadata"]["gptmagic"]
    assert meta["notes"] == [meta["notes"][0]] and meta["notes"][0].startswith("↻ Replayed")
    assert meta["footer"] == (
        "o-reason · replayed (68 tokens when recorded): not billed, not counted · kernel total 68"
    )
    assert final(outputs)["data"]["text/plain"] == original["data"]["text/plain"]
    assert len(server.responses_requests) == 1


def test_the_summaries_of_several_tool_rounds_are_not_run_together(
    responses, server, outputs, tmp_path
):
    """Each round's summary ends with a sentence and the next begins with its title: joined
    as they came, JupyterLab showed "be brief.Reading the question"."""
    cache = tmp_path / "x.gptcache.jsonl"
    run(responses, f"%config GPTMagic.cache = {str(cache)!r}")
    look = {"name": "list_variables", "arguments": "{}"}
    server.enqueue(Reply(tool_calls=[look]), Reply(text="Nothing much."))
    cell = "%%gpt --tools -m o-reason --reasoning low\nWhat is here?"
    assert run(responses, cell).success
    said = "**Reading the question** The user said *What is here?*; be brief."
    [note] = final(outputs)["metadata"]["gptmagic"]["notes"]
    assert note == f"💭 Reasoning summary: {said} {said}"
    [record] = [json.loads(line) for line in cache.read_text().splitlines()]
    one = "**Reading the question**\n\nThe user said *What is here?*; be brief."
    assert record["answer"]["reasoning"] == f"{one}\n\n{one}"  # replayed as one note again
    run(responses, "%gpt reset")
    run(responses, "%config GPTMagic.cache_mode = 'replay'")
    assert run(responses, cell).success
    assert final(outputs)["metadata"]["gptmagic"]["notes"][1:] == [note]


def response_body(status: str, output: list, **fields) -> str:
    """A non-streamed Response object as the API sends it (no usage: not the point here)."""
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-4o-mini",
        "status": status,
        "error": None,
        "incomplete_details": None,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
    }
    return json.dumps(response | fields)


REFUSAL = "I'm sorry, I cannot help with that."


def refusal_item() -> dict:
    content = [{"type": "refusal", "refusal": REFUSAL}]
    return {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed"} | {
        "content": content
    }


def test_a_streamed_refusal_is_the_answer_shown_and_kept(responses, server, outputs):
    events = [
        {"type": "response.refusal.delta", "delta": "I'm sorry, "},
        {"type": "response.refusal.delta", "delta": "I cannot help with that."},
        {"type": "response.completed", "response": json.loads(response_body("completed", []))},
    ]
    server.enqueue(Reply(raw_chunks=[*map(json.dumps, events), "[DONE]"]))
    assert run(responses, "%%gpt\nSomething forbidden").success
    assert final(outputs)["data"]["text/plain"] == REFUSAL
    [turn] = responses.magics_manager.registry["GPTMagic"].session.conversation.turns
    assert turn.assistant.content == REFUSAL


def test_a_refusal_at_once_is_the_answer_shown(responses, server, outputs):
    server.enqueue(Reply(raw_body=response_body("completed", [refusal_item()])))
    assert run(responses, "%%gpt --no-stream\nSomething forbidden").success
    assert final(outputs)["data"]["text/plain"] == REFUSAL


def test_a_failed_response_at_once_is_the_servers_error_and_nothing_is_kept(
    responses, server, outputs
):
    error = {"code": "server_error", "message": "The model failed to generate a response."}
    text = {"type": "output_text", "text": "Half an answ", "annotations": []}
    item = refusal_item() | {"content": [text], "status": "incomplete"}
    server.enqueue(Reply(raw_body=response_body("failed", [item], error=error)))
    result = run(responses, "%%gpt --no-stream\nStory")
    assert "The model failed to generate a response." in str(result.error_in_exec)
    assert not [o for o in outputs.outputs if "gptmagic" in o["metadata"]]
    assert not responses.magics_manager.registry["GPTMagic"].session.conversation.turns


def test_azure_base_url_setting_wins_over_azure_openai_endpoint(azure_shell, server, monkeypatch):
    """Precedence: %config over the environment, for Azure's address as for any other."""
    with FakeOpenAI(lifetime=60) as other:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", other.url)
        run(azure_shell, f"%config GPTMagic.base_url = '{server.url}'")
        server.enqueue(Reply(text="From the setting."))
        assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
        assert other.requests == []
    assert [r.path for r in server.requests] == ["/openai/deployments/gpt-4o/chat/completions"]


def test_the_api_version_of_a_portal_url_wins_over_openai_api_version(azure_shell, server):
    """OPENAI_API_VERSION (the environment, VERSION here) is the fallback; a URL copied from
    the portal into GPTMagic.base_url says which version that resource was set up with."""
    portal = f"{server.url}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    run(azure_shell, f"%config GPTMagic.base_url = '{portal}'")
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
    [request] = server.requests
    assert request.query == {"api-version": "2024-10-21"}


def test_azure_with_only_an_ad_token_sends_it_as_a_bearer_token(azure_shell, server, monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", KEY)
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
    [request] = server.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in request.headers


def test_azure_requests_are_retried_only_as_max_retries_says(azure_shell, server):
    """gptmagic retries (with the wait shown in the cell); the SDK's own retries stay off,
    or max_retries = 0 would still send three requests."""
    server.enqueue(Reply(status=503))
    assert not run(azure_shell, "%%gpt -m gpt-4o\nHello").success  # max_retries = 0
    assert len(server.requests) == 1


def test_a_key_typed_with_gpt_key_is_sent_to_azure(azure_shell, server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-from-the-environment-0000")
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY)
    assert run(azure_shell, "%gpt key").success
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
    assert [r.headers["api-key"] for r in server.requests] == [KEY]


def test_a_stalled_azure_stream_ends_at_gptmagic_timeout(azure_shell, server, outputs):
    run(azure_shell, "%config GPTMagic.timeout = 0.5")
    server.enqueue(Reply(text="one two three four", stall=5))
    result = run(azure_shell, "%%gpt -m gpt-4o\nHello")
    assert str(result.error_in_exec).startswith(
        "The answer is incomplete: the server sent nothing for 0.5 s (GPTMagic.timeout"
    )
    assert final(outputs)["data"]["text/plain"] == "one "


@pytest.mark.parametrize("variable", ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN"])
def test_a_new_azure_credential_in_the_environment_is_sent_from_the_next_cell(
    azure_shell, server, monkeypatch, variable
):
    """AD tokens expire within hours: a token renewed with %env (or a key corrected) must be
    used from the next cell, as a new OPENAI_API_KEY is, not after a kernel restart."""
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    monkeypatch.setenv(variable, "expired-credential-0000000000")
    assert not run(azure_shell, "%%gpt -m gpt-4o\nHello").success  # refused: 401
    monkeypatch.setenv(variable, KEY)
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
    header = "api-key" if variable == "AZURE_OPENAI_API_KEY" else "authorization"
    sent = [r.headers[header].removeprefix("Bearer ") for r in server.requests]
    assert sent == ["expired-credential-0000000000", KEY]


@pytest.mark.parametrize("variable", ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN"])
def test_a_refused_azure_key_names_the_variable_it_came_from(
    azure_shell, server, monkeypatch, variable
):
    """Not OPENAI_API_KEY, which the Azure client never reads: setting it would change
    nothing."""
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    monkeypatch.setenv(variable, "wrong-credential-00000000000000")
    result = run(azure_shell, "%%gpt -m gpt-4o\nHello")
    assert str(result.error_in_exec) == (
        f"{server.url.removeprefix('http://')} rejected the API key (401). Set a valid key in "
        f"the {variable} environment variable before starting the kernel (or run %gpt key "
        "to type one)."
    )


def test_a_new_openai_api_version_is_sent_from_the_next_cell(azure_shell, server, monkeypatch):
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-03-01-preview")  # as %env would
    assert run(azure_shell, "%%gpt -m gpt-4o\nHello").success
    sent = [r.query["api-version"] for r in server.requests]
    assert sent == [VERSION, "2025-03-01-preview"]


@pytest.mark.parametrize("variable", ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN"])
def test_a_forbidden_azure_deployment_names_the_credential_and_the_deployment(
    azure_shell, server, monkeypatch, variable
):
    """Azure has no OPENAI_ORG_ID / OPENAI_PROJECT_ID and never reads OPENAI_API_KEY: the
    403 line names the variable the credential came from and the deployment refused."""
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    monkeypatch.setenv(variable, KEY)
    server.enqueue(Reply(status=403))
    result = run(azure_shell, "%%gpt -m gpt-4o\nHello")
    line = str(result.error_in_exec)
    assert line.startswith(f"{server.url.removeprefix('http://')} refused access (403): ")
    assert f"Check that {variable} belongs to this Azure OpenAI resource" in line
    assert "deployment 'gpt-4o'" in line and "role assignment" in line
    assert "OPENAI_API_KEY," not in line and "OPENAI_ORG_ID" not in line


def test_a_forbidden_model_off_azure_names_the_openai_variables(shell, server):
    server.enqueue(Reply(status=403))
    result = run(shell, "%%gpt\nHello")
    line = str(result.error_in_exec)
    assert "refused access (403): " in line
    assert line.endswith(
        "Check that OPENAI_API_KEY, OPENAI_ORG_ID and OPENAI_PROJECT_ID allow this model."
    )
    assert "Azure" not in line and "deployment" not in line
