"""The code the benchmark runs in kernels, side by side: gptmagic, the raw SDK, the peer.

Names start with ``_b`` so they stay out of the way of anything a magic defines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PROMPT = "bench"
FIRST_WORD = "Lorem"  # the test server's lorem answers start with it

SDK_SETUP = f"""\
import os as _bos, time as _bt, openai as _bo
_bsdk = _bo.OpenAI(max_retries=0, timeout=120, api_key=_bos.environ["OPENAI_API_KEY"])
_bbody = dict(model="gpt-4o-mini", messages=[{{"role": "user", "content": {PROMPT!r}}}],
              stream=True, stream_options={{"include_usage": True}})
_brbody = dict(model="gpt-4o-mini", input={PROMPT!r}, stream=True)
"""

# The floor: a plain loop over the SDK's stream that keeps the text, nothing more.
SDK_STREAM = """\
_bparts, _bfirst = [], None
for _bc in _bsdk.chat.completions.create(**_bbody):
    if _bc.choices and _bc.choices[0].delta.content:
        _bparts.append(_bc.choices[0].delta.content)
        if _bfirst is None:
            _bfirst = _bt.monotonic()
_btext = "".join(_bparts)
"""

# The same floor over the Responses API: its text arrives as response.output_text.delta events.
RESPONSES_STREAM = """\
_bparts, _bfirst = [], None
for _be in _bsdk.responses.create(**_brbody):
    if _be.type == "response.output_text.delta":
        _bparts.append(_be.delta)
        if _bfirst is None:
            _bfirst = _bt.monotonic()
_btext = "".join(_bparts)
"""

# The same two loops over plain JSON: the SDK still sends the request and decodes the SSE, but
# builds no pydantic model per chunk (``parse(to=Stream[object])``, as gptmagic reads streams).
# What gptmagic costs above these is its own work: checks, display, history, masking.
SDK_PLAIN_STREAM = """\
_bparts, _bfirst = [], None
_braw = _bsdk.chat.completions.with_raw_response.create(**_bbody)
for _bc in _braw.parse(to=_bo.Stream[object]):
    if _bc.get("choices") and _bc["choices"][0]["delta"].get("content"):
        _bparts.append(_bc["choices"][0]["delta"]["content"])
        if _bfirst is None:
            _bfirst = _bt.monotonic()
_btext = "".join(_bparts)
"""

RESPONSES_PLAIN_STREAM = """\
_bparts, _bfirst = [], None
_braw = _bsdk.responses.with_raw_response.create(**_brbody)
for _be in _braw.parse(to=_bo.Stream[object]):
    if _be["type"] == "response.output_text.delta":
        _bparts.append(_be["delta"])
        if _bfirst is None:
            _bfirst = _bt.monotonic()
_btext = "".join(_bparts)
"""

GPT_SETUP = "%load_ext gptmagic"
GPT_CELL = f"%%gpt\n{PROMPT}"


def gpt_before(api: str) -> str:
    """The cell before a measured ``%%gpt``: the API it speaks, and the same conversation."""
    return f"%config GPTMagic.api = {api!r}\n%gpt reset"


@dataclass(frozen=True)
class Api:
    """One API measured side by side: its raw SDK loop (the floor) and ``%%gpt`` speaking it."""

    name: str  # GPTMagic.api
    floor: str  # the way names in the report
    magic: str
    sdk_stream: str
    path: str  # where the test server records the request
    plain_stream: str  # the SDK loop over plain JSON

    @property
    def plain(self) -> str:
        return f"{self.floor} over plain JSON"

    @property
    def label(self) -> str:
        return "" if self.name == "chat" else " (Responses API)"


CHAT = Api("chat", "SDK loop", "gptmagic", SDK_STREAM, "/v1/chat/completions", SDK_PLAIN_STREAM)
RESPONSES = Api(
    "responses",
    "responses SDK loop",
    "gptmagic responses",
    RESPONSES_STREAM,
    "/v1/responses",
    RESPONSES_PLAIN_STREAM,
)
APIS = (CHAT, RESPONSES)

PEER_EXTENSION = "jupyter_ai_magics"
PEER_SETUP = f"%load_ext {PEER_EXTENSION}\n%config AiMagics.max_history = 0"


def peer_cell(base_url: str) -> str:
    """``%%ai`` on the same server; the peer splits its line on spaces, so compact JSON."""
    parameters = json.dumps({"openai_api_base": base_url, "streaming": True}, separators=(",", ":"))
    return f"%%ai openai-chat-custom:gpt-4o-mini -m {parameters}\n{PROMPT}"


START_CPU = "import time as _bt\n_bcpu = _bt.process_time()"
CPU_SINCE_START = "_bt.process_time() - _bcpu"
