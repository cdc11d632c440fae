"""Token counts: the server's usage is the truth; this is only the labelled fallback.

``tiktoken`` downloads its encodings on first use and fails offline, so gptmagic never needs
it. The estimate (about four characters a token for English and code) is used to budget
history and for ``--dry-run``, and is always shown as an estimate.
"""

from __future__ import annotations

import math

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role and separators the API adds per message


def estimate_tokens(text: str) -> int:
    """A rough token count for ``text`` (never zero for non-empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_message_tokens(text: str) -> int:
    return estimate_tokens(text) + MESSAGE_OVERHEAD
