"""Test helpers for gptmagic: a local OpenAI-compatible HTTP server (see ``server``)."""
