"""The turn stages: frame validation, session, classification, routing, fast path."""
