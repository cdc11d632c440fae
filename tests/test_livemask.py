"""A key echoed in an answer is never shown while the answer streams, not even its beginning,
in a terminal (printed as it comes) or in a notebook (the live Markdown displays); text with no
secret streams exactly as before."""

from __future__ import annotations

import itertools
import json
import sys
import threading

import pytest

from gptmagic.errors import every_form, redact
from gptmagic.livemask import MaskedText, MaskedView, safe_end
from gptmagic.session import Secret
from gptmagic.testing.server import Reply, tokenize
from tests.conftest import KEY, interrupt_when, run

ANSWER = f"Your key is {KEY}; again: {KEY}."
SHOWN = "Your key is ***; again: ***."
SPLITS = {
    "one character per chunk": list(ANSWER),
    "the key in three pieces": [
        "Your key is sk-te",
        "st-DISTINCTI",
        "VE-9f8e7d6c5b4a; again: sk-test-D",
        "ISTINCTIVE-9f8e7d6c5b4a.",
    ],
    "text glued to both sides": [f"Your key is {KEY[:-5]}", f"{KEY[-5:]}; again: {KEY[:-1]}", "a."],
}


def pieces_of(secret: str, size: int = 8) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


class Printed:
    """A terminal's stdout: every write, in order."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self._watches: list[tuple[str, threading.Event]] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        for wanted, event in self._watches:
            if wanted in "".join(self.writes):
                event.set()
        return len(text)

    def flush(self) -> None:
        pass

    def when_written(self, text: str) -> threading.Event:
        """An event set once ``text`` has been printed."""
        event = threading.Event()
        self._watches.append((text, event))
        return event

    def run(self, shell, source: str):
        """Run a cell printing here (pytest resets ``sys.stdout`` between a test's phases)."""
        saved, sys.stdout = sys.stdout, self
        try:
            return run(shell, source)
        finally:
            sys.stdout = saved

    def prefixes(self) -> list[str]:
        """What the terminal showed after each write."""
        return ["".join(self.writes[: n + 1]) for n in range(len(self.writes))]


@pytest.fixture
def terminal(shell) -> Printed:
    run(shell, "%config GPTMagic.display = 'text'")
    run(shell, "%config GPTMagic.show_usage = False")
    return Printed()


def live_markdown(outputs) -> list[str]:
    """Every Markdown display and update sent while the answer streamed (not the final)."""
    shown = [m["data"].get("text/markdown", "") for m in outputs.messages if "data" in m]
    return shown[:-1]


def answer_text(live: list[str]) -> list[str]:
    """The live displays of the answer, without the "Asking…" status line."""
    return [text for text in live if not text.startswith("*Asking")]


# -- in a terminal ---------------------------------------------------------------------------
@pytest.mark.parametrize("pieces", SPLITS.values(), ids=SPLITS.keys())
def test_a_terminal_never_prints_the_key_or_any_piece_of_it(shell, server, terminal, pieces):
    server.enqueue(Reply(text=pieces))
    assert terminal.run(shell, "%%gpt -o answer\nWhat is my key?").success
    for shown in terminal.prefixes():
        assert not any(piece in shown for piece in pieces_of(KEY)), shown
    assert "".join(terminal.writes) == SHOWN + "\n"
    assert shell.user_ns["answer"] == SHOWN  # what is kept: as before


def test_another_providers_key_is_hidden_in_every_form_it_is_echoed(
    shell, server, terminal, monkeypatch
):
    azure = "az/key+with=signs9f8e7d"  # URL-encoded it reads az%2Fkey%2Bwith%3Dsigns9f8e7d
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", azure)
    encoded = "az%2Fkey%2Bwith%3Dsigns9f8e7d"
    pieces = ["See ?key=az%2F", "key%2Bwi", "th%3Dsigns9f8e7d ", "or az/k", "ey+with=signs9f8e7d"]
    server.enqueue(Reply(text=pieces))
    assert terminal.run(shell, "%%gpt -o answer\nhello").success
    for shown in terminal.prefixes():
        assert not any(p in shown for p in pieces_of(azure) + pieces_of(encoded)), shown
    assert "".join(terminal.writes) == "See ?key=*** or ***\n"


def test_text_with_no_secret_is_printed_chunk_for_chunk(shell, server, terminal):
    text = "Here is a plain answer, with nothing secret in it at all."
    server.enqueue(Reply(text=text))
    assert terminal.run(shell, "%%gpt\nhello").success
    assert terminal.writes == [*tokenize(text), "\n"]  # each piece as it came: no delay


def test_text_that_only_looks_like_a_key_is_printed_as_soon_as_it_differs(shell, server, terminal):
    server.enqueue(Reply(text=["pip install sk", "-learn, then ask", " sk-test-ok"]))
    assert terminal.run(shell, "%%gpt\nhello").success
    # "sk" and "ask" could start the key (sk-test-DISTINCTIVE…) until the next piece arrives
    assert terminal.writes == ["pip install ", "sk-learn, then a", "sk sk-test-ok", "\n"]


def test_what_is_held_back_is_printed_when_the_answer_is_interrupted(
    shell, server, terminal, outputs
):
    server.enqueue(Reply(text=["pip install sk", "-learn"], stall=30))
    interrupt_when(server.when_sent(1), terminal.when_written("pip install "))
    assert not terminal.run(shell, "%%gpt -o answer\nhello").success
    assert terminal.writes[:2] == ["pip install ", "sk"]
    assert shell.user_ns["answer"] == "pip install sk"


def test_an_answer_that_drops_inside_the_key_shows_none_of_it(shell, server, terminal):
    server.enqueue(Reply(text=["Your key is sk-te", "st-DISTINCTI", "VE-9f8e"], drop_after=3))
    assert not terminal.run(shell, "%%gpt -o answer\nWhat is my key?").success
    for shown in terminal.prefixes():
        assert not any(piece in shown for piece in pieces_of(KEY)), shown
    assert "".join(terminal.writes).startswith("Your key is ***")  # held, then masked


def test_an_answer_interrupted_inside_the_key_shows_none_of_it(shell, server, terminal, outputs):
    server.enqueue(Reply(text=["Your key is sk-test-DISTINCTI", "VE-9f8e"], stall=30))
    interrupt_when(server.when_sent(1), terminal.when_written("Your key is "))
    assert not terminal.run(shell, "%%gpt -o answer\nWhat is my key?").success
    assert terminal.writes[:2] == ["Your key is ", "***"]
    assert KEY[:8] not in json.dumps(outputs.messages)
    assert shell.user_ns["answer"] == "Your key is ***"


# -- in a notebook ---------------------------------------------------------------------------
def test_the_live_markdown_never_shows_the_key_or_any_piece_of_it(shell, server, outputs):
    filler = "Some words to stream between the keys, long enough to be shown. "
    pieces = [f"Your key is {KEY[:10]}", KEY[10:20], KEY[20:], f". {filler}", KEY[:12], KEY[12:]]
    pieces += [f". {filler}", filler]
    server.enqueue(Reply(text=pieces, chunk_delay=0.13))  # > MIN_INTERVAL: live updates
    assert run(shell, "%%gpt -o answer\nWhat is my key?").success
    live = live_markdown(outputs)
    assert answer_text(live)[0] == "Your key is "  # at once
    for text in live:
        assert not any(piece in text for piece in pieces_of(KEY)), text
    expected = redact("".join(pieces), [KEY], urls=False)
    assert outputs.outputs[-1]["data"]["text/plain"] == expected == shell.user_ns["answer"]


def test_the_first_text_with_no_secret_is_shown_at_once(shell, server, outputs):
    server.enqueue(Reply(text="Hello there, nothing secret."))
    assert run(shell, "%%gpt\nhello").success
    assert answer_text(live_markdown(outputs))[0] == "Hello "


# -- the module ------------------------------------------------------------------------------
def shown_in_pieces(text: str, cuts: tuple[int, ...], secrets: list) -> list[str]:
    """What a view is passed of ``text`` streamed in pieces cut at ``cuts``, then finished."""
    masked = MaskedText(secrets, every_form(secrets))
    bounds = [0, *cuts, len(text)]
    shown = [masked.add(text[a:b]) for a, b in itertools.pairwise(bounds)]
    return [*shown, masked.rest()]


def test_the_pieces_shown_join_up_to_the_masked_answer_wherever_it_is_cut():
    """Overlapping secrets (one the start of another, one starting inside another): however
    the text is cut, the pieces shown join up to ``redact`` of the whole, so every state shown
    is a beginning of the final masked text, never a secret's start where it shows ***."""
    secrets = ["abcd", "abcdefghijklmnopqrstuvwx", "cdxyz", "xyzw"]  # the long one: a key's rule
    text = "zabcdxyzw abcdefghijklmn abcdefghijk abcd abcdxyzwq abc"
    expected = redact(text, secrets, urls=False)
    for cuts in itertools.combinations(range(1, len(text)), 2):
        shown = shown_in_pieces(text, cuts, secrets)
        assert "".join(shown) == expected, cuts
    assert "".join(shown_in_pieces(text, tuple(range(1, len(text))), secrets)) == expected


def test_nothing_is_held_that_cannot_start_a_secret():
    forms = ["sk-test-1234"]
    assert safe_end("plain text ", forms, {"s"}) == len("plain text ")
    assert safe_end("text sk-te", forms, {"s"}) == len("text ")
    assert safe_end("text sk-tesT", forms, {"s"}) == len("text sk-tesT")


def test_the_work_per_piece_does_not_grow_with_the_answer():
    """Only the held-back tail is looked at again: it stays shorter than the longest secret."""
    masked = MaskedText([Secret(KEY)], [KEY])
    shown = [masked.add("s") for _ in range(2000)]  # each "s" could start the key: held
    assert shown == ["", *["s"] * 1999]  # until the next shows it does not
    assert masked.add(KEY[1:-1]) == "" and masked.add("!") == "***!"  # the key but its end


class Sink:
    """A view below the mask: what it is passed, and how often it is flushed."""

    def __init__(self):
        self.got: list[tuple[int, str]] = []
        self.flushes = 0

    def append(self, index, text):
        self.got.append((index, text))

    def flush(self):
        self.flushes += 1

    def finish(self, bundle, metadata):
        pass

    def discard(self):
        pass


def test_the_view_keeps_the_text_received():
    sink = Sink()
    view = MaskedView(sink, [Secret(KEY)])
    for index, text in [(0, f"a {KEY[:5]}"), (1, "b"), (0, f"{KEY[5:]} c")]:
        view.append(index, text)
    view.finish({}, {})
    assert view.texts() == [f"a {KEY} c", "b"]
    assert "".join(t for i, t in sink.got if i == 0) == "a *** c"
    assert json.dumps(sink.got).count(KEY[:5]) == 0


def test_a_flush_inside_the_key_shows_none_of_it():
    """A flush (before a tool round's lines) passes the view below what is safe; a tail that
    may begin the key stays held, as the text may go on into it: masked whole when it does."""
    sink = Sink()
    view = MaskedView(sink, [Secret(KEY)])
    view.append(0, f"Your key is {KEY[:11]}")  # below the 12 characters masked on their own
    view.flush()
    assert sink.got == [(0, "Your key is ")] and sink.flushes == 1
    view.append(0, f"{KEY[11:]} ok")
    view.finish({}, {})
    assert "".join(t for _, t in sink.got) == "Your key is *** ok"
    assert not any(piece in json.dumps(sink.got) for piece in pieces_of(KEY, 4))


def test_a_whole_secret_at_the_end_of_a_piece_is_shown_masked_at_once():
    """A proxy password shorter than the key, whole at a piece's end: nothing can follow that
    would show more of it, so it is shown masked at once, not held."""
    sink = Sink()
    view = MaskedView(sink, [Secret(KEY), Secret("hunter2-proxy")])
    view.append(0, "The proxy password is hunter2-proxy")
    assert sink.got == [(0, "The proxy password is ***")]


def test_an_answer_that_fails_shows_the_text_held_back_masked():
    """A failure after some text (the next tool round refused, the budget reached) ends the
    answer: what was held as a possible beginning of the key is shown, masked."""
    sink = Sink()
    view = MaskedView(sink, [Secret(KEY)])
    view.append(0, f"Looking at {KEY[:3]}")
    assert sink.got == [(0, "Looking at ")]
    view.discard()
    assert sink.got == [(0, "Looking at "), (0, KEY[:3])]


@pytest.mark.parametrize(("length", "shown"), [(11, KEY[:11]), (12, "***")])
def test_an_answer_ending_on_a_keys_beginning_shows_it_masked_from_12_characters(length, shown):
    """Cut off after the key's first 11 characters, they show (at most a public prefix and
    three more); after 12, the beginning is masked."""
    sink = Sink()
    view = MaskedView(sink, [Secret(KEY)])
    view.append(0, f"Your key is {KEY[:length]}")
    view.finish({}, {})
    assert "".join(text for _, text in sink.got) == f"Your key is {shown}"
