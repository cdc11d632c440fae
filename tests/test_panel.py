"""%gpt panel: widgets linked two-way to GPTMagic's traits, in a real InteractiveShell.

A frontend changes a widget by sending an update message, which ipywidgets applies with
``widget.set_state(...)``; the tests call exactly that, then check the request body that
reached the local server over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from gptmagic.panel import live_panels
from gptmagic.testing.server import Reply
from tests.conftest import KEY, run

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def kernel_shell(shell, monkeypatch):
    """The test shell as a kernel's: a frontend that renders widgets is attached."""
    monkeypatch.setattr(shell, "kernel", object(), raising=False)
    yield shell
    for panel in live_panels(shell):
        panel.close()


def magic_of(shell):
    return shell.magics_manager.registry["GPTMagic"]


def show(shell):
    """Run %gpt panel like a notebook cell; the new panel, with its models list loaded."""
    assert run(shell, "%gpt panel").success
    panel = live_panels(shell)[-1]
    panel.model.fetcher.join(timeout=30)
    return panel


def last_body(server):
    bodies = [r.body for r in server.chat_requests]
    assert bodies, "no chat request reached the server"
    return bodies[-1]


def ask(shell, options=""):
    assert run(shell, f"%%gpt {options}\nhello").success


def observers(magic) -> int:
    """How many change handlers are registered on the magic's traits."""
    notifiers = magic._trait_notifiers.values()
    return sum(len(handlers) for kinds in notifiers for handlers in kinds.values())


def descendants(box):
    for child in box.children:
        yield child
        if hasattr(child, "children"):
            yield from descendants(child)


@contextlib.contextmanager
def held_models_server(models: list[str]) -> Iterator[SimpleNamespace]:
    """A server on 127.0.0.1 whose GET /v1/models answers only once ``release`` is set
    (``asked`` is set when the request has come): a slow model list, without a guessed delay."""
    asked, release = threading.Event(), threading.Event()
    body = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in models]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.set()
            release.wait(timeout=60)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        yield SimpleNamespace(base_url=url, asked=asked, release=release)
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=30)


def host_of(server) -> str:
    return server.url.removeprefix("http://")


# -- widget -> trait -> request -----------------------------------------------------------
def test_moving_the_temperature_slider_changes_the_next_request(kernel_shell, server):
    panel = show(kernel_shell)
    panel.temperature.slider.set_state({"value": 0.7})
    assert magic_of(kernel_shell).temperature == 0.7
    assert panel.temperature.default.value is False
    ask(kernel_shell)
    assert last_body(server)["temperature"] == 0.7


def test_picking_a_model_in_the_dropdown_changes_the_next_request(kernel_shell, server):
    panel = show(kernel_shell)
    dropdown = panel.model.dropdown
    dropdown.set_state({"index": dropdown.options.index("gpt-4.1")})
    ask(kernel_shell)
    assert last_body(server)["model"] == "gpt-4.1"


def test_server_default_box_stops_sending_temperature(kernel_shell, server):
    run(kernel_shell, "%config GPTMagic.temperature = 0.3")
    panel = show(kernel_shell)
    panel.temperature.default.set_state({"value": True})
    assert magic_of(kernel_shell).temperature is None
    ask(kernel_shell)
    assert "temperature" not in last_body(server)


def test_unticking_server_default_sends_where_the_slider_stands(kernel_shell, server):
    panel = show(kernel_shell)
    assert panel.temperature.default.value is True and panel.temperature.slider.value == 1.0
    panel.temperature.default.set_state({"value": False})
    assert magic_of(kernel_shell).temperature == 1.0
    ask(kernel_shell)
    assert last_body(server)["temperature"] == 1.0


@pytest.mark.parametrize(("name", "highest"), [("temperature", 2.0), ("top_p", 1.0)])
def test_each_slider_ends_at_the_highest_value_gptmagic_accepts(kernel_shell, name, highest):
    """A frontend cannot send a value past the slider's end (it is clamped there)."""
    slider = getattr(show(kernel_shell), name).slider
    slider.set_state({"value": 1.5 * highest})
    assert getattr(magic_of(kernel_shell), name) == highest
    assert slider.value == highest
    assert live_panels(kernel_shell)[-1].message.value == ""


def test_top_p_slider_sets_top_p(kernel_shell, server):
    panel = show(kernel_shell)
    panel.top_p.slider.set_state({"value": 0.5})
    ask(kernel_shell)
    assert last_body(server)["top_p"] == 0.5


def test_max_tokens_box_sets_the_limit_and_zero_unsets_it(kernel_shell, server):
    panel = show(kernel_shell)
    panel.max_tokens.set_state({"value": 50})
    ask(kernel_shell)
    assert last_body(server)["max_tokens"] == 50
    panel.max_tokens.set_state({"value": 0})
    assert magic_of(kernel_shell).max_tokens is None
    ask(kernel_shell)
    assert "max_tokens" not in last_body(server)


def test_stream_checkbox_turns_streaming_off(kernel_shell, server):
    panel = show(kernel_shell)
    panel.stream.set_state({"value": False})
    ask(kernel_shell)
    assert not last_body(server).get("stream")


def test_system_prompt_box_sets_the_conversations_system_prompt(kernel_shell, server):
    panel = show(kernel_shell)
    panel.system_prompt.set_state({"value": "Answer in French."})
    ask(kernel_shell)
    assert last_body(server)["messages"][0] == {"role": "system", "content": "Answer in French."}


def test_a_cell_option_still_wins_for_that_cell_only(kernel_shell, server):
    panel = show(kernel_shell)
    panel.temperature.slider.set_state({"value": 0.7})
    ask(kernel_shell, "-t 0.1")
    assert last_body(server)["temperature"] == 0.1
    ask(kernel_shell)
    assert last_body(server)["temperature"] == 0.7


def test_typed_model_name_is_used_and_joins_the_dropdown(kernel_shell, server):
    panel = show(kernel_shell)
    panel.model.other.set_state({"value": " my-finetune "})
    assert magic_of(kernel_shell).model == "my-finetune"
    assert panel.model.dropdown.value == "my-finetune"
    assert panel.model.other.value == ""


def test_image_model_box_sets_the_model_of_the_next_picture(kernel_shell, server):
    panel = show(kernel_shell)
    panel.image_model.set_state({"value": "dall-e-3"})
    assert magic_of(kernel_shell).image_model == "dall-e-3"
    assert run(kernel_shell, "%gptimage a red fox").success
    images = [r.body for r in server.requests if r.path == "/v1/images/generations"]
    assert [body["model"] for body in images] == ["dall-e-3"]


def test_a_refused_value_snaps_back_with_the_reason(kernel_shell):
    panel = show(kernel_shell)
    panel.image_size.set_state({"value": "big"})
    assert magic_of(kernel_shell).image_size == "1024x1024"
    assert panel.image_size.value == "1024x1024"
    assert "image_size must look like 1024x1024" in panel.message.value


# -- trait -> widget ------------------------------------------------------------------------
def test_config_moves_the_slider(kernel_shell):
    panel = show(kernel_shell)
    run(kernel_shell, "%config GPTMagic.temperature = 0.2")
    assert panel.temperature.slider.value == 0.2
    assert panel.temperature.default.value is False
    run(kernel_shell, "%config GPTMagic.temperature = None")
    assert panel.temperature.default.value is True


def test_config_temperature_zero_moves_the_slider_to_zero(kernel_shell):
    panel = show(kernel_shell)
    run(kernel_shell, "%config GPTMagic.temperature = 0")
    assert panel.temperature.slider.value == 0.0
    assert panel.temperature.default.value is False


def test_config_model_outside_the_list_is_added_and_selected(kernel_shell):
    panel = show(kernel_shell)
    run(kernel_shell, "%config GPTMagic.model = 'llama3.2'")
    assert panel.model.dropdown.value == "llama3.2"
    assert "gpt-4.1" in panel.model.dropdown.options


def test_two_panels_stay_in_sync(kernel_shell):
    first, second = show(kernel_shell), show(kernel_shell)
    first.temperature.slider.set_state({"value": 1.5})
    assert second.temperature.slider.value == 1.5
    second.max_tokens.set_state({"value": 99})
    assert first.max_tokens.value == 99


def test_closing_one_panel_leaves_the_other_working(kernel_shell, server):
    first, second = show(kernel_shell), show(kernel_shell)
    first.close()
    result = run(kernel_shell, "%config GPTMagic.temperature = 0.4")
    assert result.success
    assert second.temperature.slider.value == 0.4
    assert first.temperature.slider.value == 1.0  # unlinked: no longer follows
    second.temperature.slider.set_state({"value": 0.9})
    ask(kernel_shell)
    assert last_body(server)["temperature"] == 0.9


def test_after_closing_one_panel_the_others_usage_line_still_updates(kernel_shell):
    first, second = show(kernel_shell), show(kernel_shell)
    first.close()
    ask(kernel_shell)
    assert "in 1 answer(s)" in second.usage.value


def test_closing_every_panel_removes_its_observers_and_hook(kernel_shell):
    magic = magic_of(kernel_shell)
    before = observers(magic), list(kernel_shell.events.callbacks["post_run_cell"])
    panels = [show(kernel_shell), show(kernel_shell)]
    assert observers(magic) > before[0]
    for panel in panels:
        panel.close()
    assert (observers(magic), kernel_shell.events.callbacks["post_run_cell"]) == before
    assert live_panels(kernel_shell) == []
    assert panels[0].temperature.slider.comm is None  # its parts are closed too


# -- buttons and lines ----------------------------------------------------------------------
def test_new_conversation_button_resets_the_conversation(kernel_shell):
    run(kernel_shell, "%config GPTMagic.system_prompt = 'Be brief.'")
    ask(kernel_shell)
    panel = show(kernel_shell)
    assert "1 turn(s)" in panel.conversation.value
    panel.new_conversation.click()
    conversation = magic_of(kernel_shell).session.conversation
    assert conversation.turns == [] and conversation.system == "Be brief."
    assert "0 turn(s)" in panel.conversation.value


def test_usage_line_updates_after_an_answer(kernel_shell):
    panel = show(kernel_shell)
    assert panel.usage.value.startswith("usage: 0 tokens this kernel")
    ask(kernel_shell)
    total = magic_of(kernel_shell).session.usage.total.total_tokens
    assert total > 0
    assert panel.usage.value.startswith(f"usage: {total:,} tokens this kernel")
    assert "in 1 answer(s)" in panel.usage.value


def test_usage_line_counts_prompt_and_completion_tokens_apart(kernel_shell):
    panel = show(kernel_shell)
    ask(kernel_shell)
    total = magic_of(kernel_shell).session.usage.total
    assert total.prompt_tokens != total.completion_tokens
    assert panel.usage.value == (
        f"usage: {total.total_tokens:,} tokens this kernel ({total.prompt_tokens:,} prompt + "
        f"{total.completion_tokens:,} completion) in 1 answer(s)"
    )


def test_usage_line_shows_how_much_of_the_token_budget_is_used(kernel_shell):
    run(kernel_shell, "%config GPTMagic.token_budget = 5000")
    panel = show(kernel_shell)
    assert panel.usage.value.endswith(" · budget 0 of 5,000")
    ask(kernel_shell)
    total = magic_of(kernel_shell).session.usage.total.total_tokens
    assert panel.usage.value.endswith(f" · budget {total:,} of 5,000")


def test_usage_line_without_a_budget_names_none(kernel_shell):
    panel = show(kernel_shell)
    assert "budget" not in panel.usage.value


def test_usage_line_counts_answers_the_server_sent_no_usage_for(kernel_shell, server):
    panel = show(kernel_shell)
    ask(kernel_shell)
    assert "without reported usage" not in panel.usage.value
    server.enqueue(Reply(usage="never"))
    ask(kernel_shell)
    assert panel.usage.value.endswith(" in 2 answer(s) · 1 answer(s) without reported usage")


# -- the models list --------------------------------------------------------------------------
def test_models_dropdown_is_filled_from_the_server(kernel_shell, server):
    panel = show(kernel_shell)
    assert set(panel.model.dropdown.options) == set(server.models)
    assert panel.model.dropdown.value == "gpt-4o-mini"
    assert any(r.path == "/v1/models" for r in server.requests)
    assert f"{len(server.models)} model(s)" in panel.model.note.value


def test_unreachable_server_keeps_the_configured_model_and_says_why(kernel_shell):
    run(kernel_shell, "%config GPTMagic.base_url = 'http://127.0.0.1:9/v1'")
    panel = show(kernel_shell)
    assert panel.model.dropdown.options == ("gpt-4o-mini",)
    assert "models not listed: Could not reach 127.0.0.1:9" in panel.model.note.value


def test_a_local_server_that_wants_a_key_says_none_is_set(kernel_shell, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")  # a local address: the placeholder key is sent
    panel = show(kernel_shell)
    assert panel.model.dropdown.options == ("gpt-4o-mini",)
    assert "wants an API key (401) and none is set" in panel.model.note.value


def test_a_base_url_without_v1_is_named_in_the_panel(kernel_shell, server):
    run(kernel_shell, f"%config GPTMagic.base_url = '{server.url}'")
    panel = show(kernel_shell)
    assert f"check GPTMagic.base_url ({server.url})" in panel.model.note.value
    assert f"(try {server.url}/v1)" in panel.model.note.value


def test_a_key_the_server_echoes_in_its_refusal_is_masked_in_the_note(kernel_shell, server):
    error = {"message": f"Key {KEY} may not list models.", "type": "invalid_request_error"}
    server.enqueue(Reply(endpoint="models", status=403, error={"error": error}))
    panel = show(kernel_shell)
    assert "refused access (403): Key *** may not list models." in panel.model.note.value
    assert KEY not in panel.model.note.value


def test_a_servers_error_message_is_shown_as_text_not_html(kernel_shell, server):
    error = {"message": "Listing down, <img src=x onerror=alert(1)>", "type": "server_error"}
    server.enqueue(Reply(endpoint="models", status=500, error={"error": error}))
    panel = show(kernel_shell)
    assert "failed with 500: Listing down, &lt;img src=x onerror=alert(1)&gt;" in (
        panel.model.note.value
    )
    assert "<img" not in panel.model.note.value


def test_without_a_key_the_list_is_skipped_instead_of_prompting(kernel_shell, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr("getpass.getpass", lambda *a, **k: pytest.fail("prompted for a key"))
    run(kernel_shell, "%config GPTMagic.base_url = 'https://api.example.invalid/v1'")
    panel = show(kernel_shell)
    assert "no API key yet" in panel.model.note.value
    assert panel.model.dropdown.options == ("gpt-4o-mini",)


def test_changing_base_url_lists_the_new_servers_models(kernel_shell, server):
    panel = show(kernel_shell)
    run(kernel_shell, "%config GPTMagic.base_url = 'http://127.0.0.1:9/v1'")
    panel.model.fetcher.join(timeout=30)
    assert "Could not reach 127.0.0.1:9" in panel.model.note.value


def test_a_slow_list_from_the_previous_server_does_not_replace_the_new_ones(kernel_shell, server):
    with held_models_server(["old-model"]) as old:
        run(kernel_shell, f"%config GPTMagic.base_url = '{old.base_url}'")
        assert run(kernel_shell, "%gpt panel").success
        picker = live_panels(kernel_shell)[-1].model
        first = picker.fetcher
        assert old.asked.wait(timeout=30)  # the first list is on its way
        run(kernel_shell, f"%config GPTMagic.base_url = '{server.base_url}'")
        picker.fetcher.join(timeout=30)
        old.release.set()
        first.join(timeout=30)
    assert set(picker.dropdown.options) == set(server.models)
    assert f"{len(server.models)} model(s) at {host_of(server)}" in picker.note.value


def test_on_azure_the_list_holds_the_deployment_not_the_servers_base_models(
    kernel_shell, azure_shell, server
):
    """Azure's GET /models lists base models, which are not names -m can take there: the
    panel offers the configured deployment, asks for others by name, and does not ask."""
    run(kernel_shell, "%config GPTMagic.model = 'gpt-4o'")
    panel = show(kernel_shell)
    assert panel.model.dropdown.options == ("gpt-4o",)
    assert panel.model.dropdown.value == "gpt-4o"
    assert not any(r.path.endswith("/models") for r in server.requests)
    assert "on Azure the model is a deployment name (" in panel.model.note.value
    assert "model(s) at" not in panel.model.note.value
    assert panel.model.other.placeholder == "other deployment, then Enter"


def test_on_azure_a_typed_deployment_is_used_for_the_next_cell(kernel_shell, azure_shell, server):
    run(kernel_shell, "%config GPTMagic.model = 'gpt-4o'")
    panel = show(kernel_shell)
    panel.model.other.set_state({"value": "gpt-4o-mini"})
    assert panel.model.dropdown.options == ("gpt-4o", "gpt-4o-mini")
    ask(kernel_shell)
    assert server.requests[-1].path.startswith("/openai/deployments/gpt-4o-mini/")


def test_off_azure_the_box_asks_for_a_model(kernel_shell, server):
    panel = show(kernel_shell)
    assert panel.model.other.placeholder == "other model, then Enter"


# -- extension reloads ------------------------------------------------------------------------
def test_reload_ext_moves_the_panel_to_the_new_magic(kernel_shell, server):
    panel = show(kernel_shell)
    old = magic_of(kernel_shell)
    assert run(kernel_shell, "%reload_ext gptmagic").success
    new = magic_of(kernel_shell)
    assert new is not old and panel.magic is new
    panel.temperature.slider.set_state({"value": 0.6})
    assert new.temperature == 0.6 and old.temperature is None
    ask(kernel_shell)
    assert last_body(server)["temperature"] == 0.6


def test_unload_disables_the_panel_until_the_extension_is_back(kernel_shell):
    panel = show(kernel_shell)
    run(kernel_shell, "%unload_ext gptmagic")
    assert panel.temperature.slider.disabled and panel.magic is None
    assert "not loaded" in panel.message.value
    run(kernel_shell, "%load_ext gptmagic")
    assert not panel.temperature.slider.disabled
    assert panel.magic is magic_of(kernel_shell)


def test_unload_disables_every_control_of_the_panel(kernel_shell):
    panel = show(kernel_shell)
    controls = [w for w in descendants(panel) if hasattr(w, "disabled")]
    assert len(controls) == 12 and not any(w.disabled for w in controls)
    run(kernel_shell, "%unload_ext gptmagic")
    assert [w for w in controls if not w.disabled] == []


# -- where widgets cannot render --------------------------------------------------------------
def test_display_bundle_carries_a_text_and_markdown_summary(kernel_shell, outputs):
    run(kernel_shell, "%config GPTMagic.temperature = 0.2")
    run(kernel_shell, "%config GPTMagic.system_prompt = 'Use a | b tables.'")
    show(kernel_shell)
    data = outputs.outputs[-1]["data"]
    assert WIDGET_VIEW in data
    assert "temperature    0.2" in data["text/plain"]
    assert "top_p          server default" in data["text/plain"]
    assert "| model | gpt-4o-mini |" in data["text/markdown"]
    assert "| system prompt | Use a \\| b tables. |" in data["text/markdown"]


def test_summary_gives_temperature_zero_as_zero_not_as_server_default(kernel_shell, outputs):
    run(kernel_shell, "%config GPTMagic.temperature = 0")
    show(kernel_shell)
    data = outputs.outputs[-1]["data"]
    assert "  temperature    0\n" in data["text/plain"]
    assert "| temperature | 0 |" in data["text/markdown"]


def test_summary_escapes_html_tags_so_the_saved_notebook_shows_them(kernel_shell, outputs):
    run(kernel_shell, "%config GPTMagic.system_prompt = 'Answer in <b>bold</b>.'")
    show(kernel_shell)
    markdown = outputs.outputs[-1]["data"]["text/markdown"]
    assert "| system prompt | Answer in \\<b\\>bold\\</b\\>. |" in markdown


def test_no_password_of_the_base_url_reaches_the_saved_output(kernel_shell, outputs, server):
    url = f"http://analyst:s3cret-pw@{host_of(server)}/v1"
    run(kernel_shell, f"%config GPTMagic.base_url = '{url}'")
    panel = show(kernel_shell)
    data = outputs.outputs[-1]["data"]
    assert f"  server         {host_of(server)}\n" in data["text/plain"]
    assert f"| server | {host_of(server)} |" in data["text/markdown"]
    shown = [data["text/plain"], data["text/markdown"], panel.header.value, panel.model.note.value]
    assert not [text for text in shown if "s3cret-pw" in text]


def test_terminal_prints_the_summary_instead_of_widgets(shell, capsys):
    assert run(shell, "%gpt panel").success
    out = capsys.readouterr().out
    assert out.startswith("gptmagic settings\n  model          gpt-4o-mini")
    assert "%config GPTMagic.NAME = VALUE" in out
    assert live_panels(shell) == []


def test_load_ext_does_not_import_ipywidgets():
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'gptmagic')\n"
        "print(sorted(m for m in ('ipywidgets', 'gptmagic.panel') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_open_panel_stays_quiet_after_cells_while_the_base_url_is_unreadable(
    kernel_shell, server, capsys
):
    """The panel refreshes after every cell; an address no parser reads (an unclosed IPv6
    bracket) must not print a traceback under each cell, even 1 + 1."""
    panel = show(kernel_shell)
    run(kernel_shell, "%config GPTMagic.base_url = 'http://[::1/v1'")
    assert run(kernel_shell, "1 + 1").success
    printed = capsys.readouterr()
    for text in (printed.out, printed.err):  # IPython prints a callback's traceback to stdout
        assert "ValueError" not in text and "Error in callback" not in text
    assert "The server address &#x27;http://[::1/v1&#x27; cannot be read" in panel.message.value
    assert "server not readable" in panel.header.value
    run(kernel_shell, f"%config GPTMagic.base_url = {server.base_url!r}")  # fixed: said so
    assert run(kernel_shell, "1 + 1").success
    assert panel.message.value == ""
    assert f"server {server.base_url.split('/')[2]}" in panel.header.value
