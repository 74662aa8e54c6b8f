"""Luma: a serverless conversational-agent platform (shared core package)."""

__version__ = "0.1.0"
