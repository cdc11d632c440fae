"""The settings panel (``%gpt panel``): ipywidgets linked two-way to ``GPTMagic``'s traits.

Each control is a ``traitlets.link`` to one trait of the kernel's ``GPTMagic``: a slider moved
in the browser changes the next request, and ``%config GPTMagic.temperature = 0.2`` (which
sets the trait, firing its change event) moves the slider. Every panel has its own links, so
several panels stay in sync and closing one (``panel.close()``) unlinks only that one.
``None`` ("not sent") is the "server default" box beside a slider, and 0 in max_tokens.

Per shell one ``post_run_cell`` hook, registered while a panel is open, refreshes the lines
that follow the kernel rather than a trait (usage, conversation, server) and moves the panels
to the new ``GPTMagic`` after ``%reload_ext gptmagic`` (or disables them after
``%unload_ext``). Only ``%gpt panel`` imports this module, so ipywidgets stays out of
``%load_ext``.
"""

from __future__ import annotations

import contextlib
import html
import re
import textwrap
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from IPython.display import display
from traitlets import Float, TraitError, Unicode, link, observe

from .apikey import known_key, known_secrets
from .backends import model_is_deployment
from .client import Endpoint
from .errors import GPTMagicError
from .usage import UsageLedger

if TYPE_CHECKING:
    from .magics import GPTMagic
    from .session import KernelSession

IMAGE_SIZES = ("auto", "256x256", "512x512", "1024x1024", "1024x1536", "1536x1024", "1792x1024")
STYLE = {"description_width": "100px"}
QUIET = "color: var(--jp-ui-font-color2, #777)"
NOT_SET = f"<span style='{QUIET}'>0: not set</span>"
MARKDOWN_SPECIAL = re.compile(r"([\\`*_|<>\[\]])")  # escaped in the summary table


# -- the text summary (saved notebooks, GitHub, nbconvert, terminals) -------------------------
def usage_line(ledger: UsageLedger, budget: int | None) -> str:
    total = ledger.total
    line = (
        f"{total.total_tokens:,} tokens this kernel ({total.prompt_tokens:,} prompt + "
        f"{total.completion_tokens:,} completion) in {len(ledger.records)} answer(s)"
    )
    if budget is not None:
        line += f" · budget {total.total_tokens:,} of {budget:,}"
    if ledger.unreported:
        line += f" · {ledger.unreported} answer(s) without reported usage"
    return line


def conversation_line(magic: GPTMagic) -> str:
    conversation = magic.session.conversation
    return f"{len(conversation.turns)} turn(s), ≈{conversation.tokens:,} tokens"


def settings_rows(magic: GPTMagic) -> list[tuple[str, str]]:
    def optional(value: float | None) -> str:
        return "server default" if value is None else f"{value:g}"

    endpoint = magic.endpoint()
    system = textwrap.shorten(magic.system_prompt, 80, placeholder="…") or "(none)"
    return [
        ("model", magic.model),
        ("temperature", optional(magic.temperature)),
        ("top_p", optional(magic.top_p)),
        ("max_tokens", "not set" if magic.max_tokens is None else f"{magic.max_tokens:,}"),
        ("stream", "on" if magic.stream else "off"),
        ("system prompt", system),
        ("image", f"{magic.image_model}, {magic.image_size}"),
        ("server", endpoint.host),
        ("conversation", conversation_line(magic)),
        ("usage", usage_line(magic.session.usage, magic.token_budget)),
    ]


def markdown_escape(text: str) -> str:
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def summary(magic: GPTMagic) -> dict[str, str]:
    """The settings as ``text/plain`` and ``text/markdown``, for where widgets cannot render."""
    rows = settings_rows(magic)
    plain = "gptmagic settings\n" + "\n".join(f"  {name:<14} {value}" for name, value in rows)
    cells = "\n".join(f"| {name} | {markdown_escape(value)} |" for name, value in rows)
    markdown = f"**gptmagic settings**\n\n| setting | value |\n|---|---|\n{cells}"
    return {"text/plain": plain, "text/markdown": markdown}


# -- controls whose value is exactly a GPTMagic trait's value ---------------------------------
class _Guard:
    """Tells a control's own updates apart from user input, across threads.

    The models list arrives on a background thread while input is handled on the kernel's
    main thread: the lock makes input wait for an update in progress instead of being dropped,
    and the depth marks the echoes an update causes (ignored by the input handlers).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0

    @contextlib.contextmanager
    def updating(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1

    @contextlib.contextmanager
    def echo(self) -> Iterator[bool]:
        """True while this thread is inside ``updating``: the change is not user input."""
        with self._lock:
            yield self._depth > 0


class OptionalSlider(widgets.HBox):
    """A slider plus a "server default" box; ``value`` None means the parameter is not sent.

    Moving the slider sets a value (and clears the box); ticking the box sets None, and the
    slider then shows where it was. ``value`` itself is not synced: only the parts are.
    """

    value = Float(None, allow_none=True)

    def __init__(self, name: str, high: float) -> None:
        self.slider = widgets.FloatSlider(
            1.0,
            min=0.0,
            max=high,
            step=0.05,
            description=name,
            continuous_update=False,
            readout_format=".2f",
            style=STYLE,
            layout=widgets.Layout(width="420px"),
        )
        self.default = widgets.Checkbox(
            True, description="server default", indent=False, layout=widgets.Layout(width="auto")
        )
        self._guard = _Guard()
        super().__init__([self.slider, self.default])
        self.add_class(f"gptmagic-{name}")
        self.slider.observe(self._moved, "value")
        self.default.observe(self._ticked, "value")

    @observe("value")
    def _show(self, change: dict[str, Any]) -> None:
        with self._guard.updating():
            self.default.value = change["new"] is None
            if change["new"] is not None:
                self.slider.value = change["new"]

    def _moved(self, change: dict[str, Any]) -> None:
        with self._guard.echo() as echo:
            if not echo:
                self.value = change["new"]

    def _ticked(self, change: dict[str, Any]) -> None:
        with self._guard.echo() as echo:
            if not echo:
                self.value = None if change["new"] else self.slider.value


def server_models(session: KernelSession, endpoint: Endpoint, model: str) -> tuple[list[str], str]:
    """The server's model names and a note for the panel; never prompts, never raises."""
    from .client import list_models, sdk_for
    from .diagnosis import explain_failure

    if model_is_deployment(endpoint.provider):  # its GET /models lists base models instead
        return [], (
            "on Azure the model is a deployment name (the Deployments page of the Azure AI "
            "Foundry portal): type another deployment name"
        )
    if known_key(session, endpoint.host) is None:
        return [], "no API key yet (%gpt key): type a model name"
    sdk = None
    try:
        sdk = sdk_for(session, endpoint)
        names = list_models(sdk)
    except GPTMagicError as exc:  # e.g. a proxy that cannot be set up
        return [], f"models not listed: {exc}"
    except Exception as exc:  # the SDK's errors, and a request refused before sending
        secrets = known_secrets(session)
        reason = explain_failure(
            exc, endpoint=endpoint, model=model, secrets=secrets, sdk=sdk, what="model list"
        )
        return [], f"models not listed: {reason}"
    return names, f"{len(names)} model(s) at {endpoint.host}"


class ModelPicker(widgets.HBox):
    """The server's models in a dropdown, plus a box to type any other name (then Enter).

    The list is fetched on a background thread, so showing the panel never waits for the
    server; until it arrives (or when the server cannot list models) the dropdown holds the
    configured model, and a typed name joins the dropdown.
    """

    value = Unicode()

    def __init__(self) -> None:
        self.dropdown = widgets.Dropdown(options=[], description="model", style=STYLE)
        self.other = widgets.Text(
            placeholder="other model, then Enter",
            continuous_update=False,
            layout=widgets.Layout(width="190px"),
        )
        self.note = widgets.HTML()
        self.source: Endpoint | None = None
        self.fetcher: threading.Thread | None = None
        self._guard = _Guard()
        super().__init__([self.dropdown, self.other, self.note])
        self.add_class("gptmagic-model")
        self.dropdown.observe(self._picked, "value")
        self.other.observe(self._typed, "value")

    @observe("value")
    def _show(self, change: dict[str, Any]) -> None:
        self.set_options(self.dropdown.options)

    def set_options(self, names: Iterable[str]) -> None:
        """Offer ``names`` (and the current model), keeping the current model selected."""
        with self._guard.updating():
            names = list(dict.fromkeys(names))
            if self.value and self.value not in names:
                names.append(self.value)
            if tuple(names) != self.dropdown.options:
                self.dropdown.options = names  # resets the selection: restored just below
            self.dropdown.value = self.value or None

    def _picked(self, change: dict[str, Any]) -> None:
        with self._guard.echo() as echo:
            if not echo and change["new"]:
                self.value = change["new"]

    def _typed(self, change: dict[str, Any]) -> None:
        name = change["new"].strip()
        if name:
            self.value = name
            self.other.value = ""

    def fetch(self, magic: GPTMagic) -> None:
        """List the server's models in the background; the dropdown fills in when they come."""
        endpoint = magic.endpoint()
        self.source = endpoint
        kind = "deployment" if model_is_deployment(endpoint.provider) else "model"
        self.other.placeholder = f"other {kind}, then Enter"
        self.note.value = f"<span style='{QUIET}'>listing models…</span>"
        session, model = magic.session, magic.model

        def work() -> None:
            names, note = server_models(session, endpoint, model)
            with self._guard.updating():
                if self.source == endpoint:  # else a newer fetch (new base_url) supersedes it
                    self.set_options(names)
                    self.note.value = f"<span style='{QUIET}'>{html.escape(note)}</span>"

        self.fetcher = threading.Thread(target=work, name="gptmagic-models", daemon=True)
        self.fetcher.start()


class Bond(link):
    """``traitlets.link`` from a GPTMagic trait to a control; a refused value snaps back.

    GPTMagic validates its traits (image_size must look like 1024x1024): when it refuses what
    was typed, the control returns to the trait's value and ``on_refused`` gets the one-line
    reason, instead of a traceback in the kernel's log.
    """

    def __init__(
        self,
        source: tuple[Any, str],
        target: tuple[Any, str],
        transform: tuple[Callable, Callable] | None,
        on_refused: Callable[[str], None],
    ) -> None:
        self.on_refused = on_refused
        super().__init__(source, target, transform)

    def _update_source(self, change: Any) -> None:
        try:
            super()._update_source(change)
        except TraitError as exc:
            with self._busy_updating():
                setattr(*self.target, self._transform(getattr(*self.source)))
            self.on_refused(str(exc))


# -- the panel --------------------------------------------------------------------------------
class SettingsPanel(widgets.VBox):
    """The kernel's settings as widgets, linked to a ``GPTMagic``; see the module docstring."""

    def __init__(self, magic: GPTMagic) -> None:
        self.header = widgets.HTML()
        self.model = ModelPicker()
        self.temperature = OptionalSlider("temperature", 2.0)
        self.top_p = OptionalSlider("top_p", 1.0)
        self.max_tokens = widgets.BoundedIntText(
            0,
            min=0,
            max=10_000_000,
            description="max_tokens",
            style=STYLE,
            layout=widgets.Layout(width="240px"),
        )
        self.stream = widgets.Checkbox(True, description="stream answers")
        self.system_prompt = widgets.Textarea(
            description="system prompt",
            placeholder="(none)",
            continuous_update=False,
            rows=2,
            style=STYLE,
            layout=widgets.Layout(width="640px"),
        )
        self.image_model = widgets.Text(
            description="image model", continuous_update=False, style=STYLE
        )
        self.image_size = widgets.Combobox(
            options=IMAGE_SIZES, description="size", continuous_update=False
        )
        self.new_conversation = widgets.Button(
            description="New conversation", icon="plus", layout=widgets.Layout(width="auto")
        )
        self.conversation = widgets.HTML()
        self.usage = widgets.HTML()
        self.message = widgets.HTML()
        self.magic: GPTMagic | None = None
        self._bonds: list[Bond] = []
        super().__init__(
            [
                self.header,
                self.model,
                self.temperature,
                self.top_p,
                widgets.HBox([self.max_tokens, widgets.HTML(NOT_SET), self.stream]),
                self.system_prompt,
                widgets.HBox([self.image_model, self.image_size]),
                widgets.HBox([self.new_conversation, self.conversation]),
                self.usage,
                self.message,
            ],
            layout=widgets.Layout(border="1px solid #ccc", padding="4px 8px"),
        )
        self.add_class("gptmagic-panel")
        self.new_conversation.on_click(self._new_conversation)
        self._hub = _hub_for(magic.shell)
        self._hub.add(self)
        self.bind(magic)

    def _links(self) -> dict[str, tuple[widgets.Widget, tuple[Callable, Callable] | None]]:
        """Trait name -> (control, (trait→control, control→trait) conversion or None)."""
        return {
            "model": (self.model, None),
            "temperature": (self.temperature, None),
            "top_p": (self.top_p, None),
            "max_tokens": (self.max_tokens, (lambda n: n or 0, lambda n: n or None)),
            "stream": (self.stream, None),
            "system_prompt": (self.system_prompt, None),
            "image_model": (self.image_model, None),
            "image_size": (self.image_size, None),
        }

    def _inputs(self) -> list[widgets.Widget]:
        return [
            self.model.dropdown,
            self.model.other,
            self.temperature.slider,
            self.temperature.default,
            self.top_p.slider,
            self.top_p.default,
            self.max_tokens,
            self.stream,
            self.system_prompt,
            self.image_model,
            self.image_size,
            self.new_conversation,
        ]

    def bind(self, magic: GPTMagic | None) -> None:
        """Link every control to ``magic`` (None: the extension is unloaded; disable them)."""
        self.unbind()
        self.magic = magic
        for control in self._inputs():
            control.disabled = magic is None
        if magic is None:
            self.message.value = (
                "gptmagic is not loaded: after <code>%load_ext gptmagic</code> this panel "
                "follows the new settings."
            )
            return
        self._bonds = [
            Bond((magic, name), (control, "value"), transform, self._refused)
            for name, (control, transform) in self._links().items()
        ]
        self.refresh()

    def unbind(self) -> None:
        for bond in self._bonds:
            bond.unlink()
        self._bonds = []

    def refresh(self) -> None:
        """Update the lines that follow the kernel; unchanged values send nothing."""
        magic = self.magic
        if magic is None:
            return
        try:
            endpoint = magic.endpoint()
        except GPTMagicError as exc:  # an unreadable address: said here, not as a traceback
            endpoint, problem = None, str(exc)  # under every cell (this runs after each one)
        else:
            problem = ""
            if endpoint != self.model.source:
                self.model.fetch(magic)
        host = html.escape(endpoint.host) if endpoint is not None else "not readable"
        self.header.value = (
            f"<b>gptmagic settings</b> <span style='{QUIET}'>· server "
            f"{host} · cell options still win for one cell</span>"
        )
        self.conversation.value = f"conversation: {html.escape(conversation_line(magic))}"
        self.usage.value = f"usage: {usage_line(magic.session.usage, magic.token_budget)}"
        self.message.value = ""
        if problem:
            self._refused(problem)

    def _refused(self, reason: str) -> None:
        self.message.value = f"<span style='color: #c00'>⚠ {html.escape(reason)}</span>"

    def _new_conversation(self, _button: widgets.Button) -> None:
        if self.magic is not None:
            self.magic.session.conversation.reset()
            self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget, plus the settings as text for wherever widgets cannot render."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None and self.magic is not None:
            bundle.update(summary(self.magic))
        return bundle

    def close(self) -> None:
        """Unlink from the magic and close every part; the other panels stay as they are."""
        self.unbind()
        hub = getattr(self, "_hub", None)  # absent if __init__ failed (close runs from __del__)
        if hub is not None:
            hub.remove(self)
        for part in _descendants(self):
            part.close()
        super().close()


def _descendants(box: widgets.Box) -> Iterator[widgets.Widget]:
    for child in box.children:
        yield child
        if isinstance(child, widgets.Box):
            yield from _descendants(child)


# -- the panels of one shell ------------------------------------------------------------------
class _Hub:
    """The open panels of one shell, and the post_run_cell hook that keeps them current."""

    def __init__(self, shell: Any) -> None:
        self._shell = weakref.ref(shell)  # the shell owns the hook, not the other way round
        self.panels: list[SettingsPanel] = []

    def add(self, panel: SettingsPanel) -> None:
        if not self.panels:
            self._shell().events.register("post_run_cell", self.after_cell)
        self.panels.append(panel)

    def remove(self, panel: SettingsPanel) -> None:
        if panel in self.panels:
            self.panels.remove(panel)
            shell = self._shell()
            if not self.panels and shell is not None:
                shell.events.unregister("post_run_cell", self.after_cell)

    def after_cell(self, result: Any = None) -> None:
        """Follow a reloaded (or unloaded) extension; refresh usage and conversation lines."""
        magic = self._shell().magics_manager.registry.get("GPTMagic")
        for panel in list(self.panels):
            if panel.magic is magic:
                panel.refresh()
            else:
                panel.bind(magic)


_HUBS: weakref.WeakKeyDictionary[Any, _Hub] = weakref.WeakKeyDictionary()


def _hub_for(shell: Any) -> _Hub:
    hub = _HUBS.get(shell)
    if hub is None:
        hub = _HUBS[shell] = _Hub(shell)
    return hub


def live_panels(shell: Any) -> list[SettingsPanel]:
    """The panels shown in ``shell`` and not closed, oldest first."""
    return list(_hub_for(shell).panels)


def show_panel(magic: GPTMagic) -> None:
    """Display a new panel; where no frontend can render widgets, print the summary."""
    if not getattr(magic.shell, "kernel", None):
        print(summary(magic)["text/plain"])
        print("(Widgets need Jupyter; here, change settings with %config GPTMagic.NAME = VALUE.)")
        return
    display(SettingsPanel(magic))
