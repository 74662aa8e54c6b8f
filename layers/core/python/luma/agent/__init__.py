"""Agent runs (LLM with tools). Until providers land, the entry answers ``agent_unavailable``."""
