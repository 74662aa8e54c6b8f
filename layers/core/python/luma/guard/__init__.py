"""Guardrails: personal data, prompt injection, crisis, prompt leakage; per-assistant policies.

Importing this package loads nothing heavy: :mod:`luma.guard.pii` is plain regular expressions
(``phonenumbers`` is imported on the first phone-like candidate), and the learned head and the
embedder are loaded by :func:`luma.guard.scan.scan_input` on first use.
"""
