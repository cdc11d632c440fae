"""The code the benchmark runs in kernels, side by side: gptmagic, the raw SDK, the peer.

Names start with ``_b`` so they stay out of the way of anything a magic defines.
"""

from __future__ import annotations

import json

PROMPT = "bench"
FIRST_WORD = "Lorem"  # the test server's lorem answers start with it

SDK_SETUP = f"""\
import os as _bos, time as _bt, openai as _bo
_bsdk = _bo.OpenAI(max_retries=0, timeout=120, api_key=_bos.environ["OPENAI_API_KEY"])
_bbody = dict(model="gpt-4o-mini", messages=[{{"role": "user", "content": {PROMPT!r}}}],
              stream=True, stream_options={{"include_usage": True}})
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

GPT_SETUP = "%load_ext gptmagic"
GPT_CELL = f"%%gpt\n{PROMPT}"
GPT_BEFORE = "%gpt reset"  # every measured answer starts from the same conversation

PEER_EXTENSION = "jupyter_ai_magics"
PEER_SETUP = f"%load_ext {PEER_EXTENSION}\n%config AiMagics.max_history = 0"


def peer_cell(base_url: str) -> str:
    """``%%ai`` on the same server; the peer splits its line on spaces, so compact JSON."""
    parameters = json.dumps({"openai_api_base": base_url, "streaming": True}, separators=(",", ":"))
    return f"%%ai openai-chat-custom:gpt-4o-mini -m {parameters}\n{PROMPT}"


START_CPU = "import time as _bt\n_bcpu = _bt.process_time()"
CPU_SINCE_START = "_bt.process_time() - _bcpu"
