"""Conversations stream (``ESC#`` items): each new escalation becomes a notice to its tenant's operators."""

from luma.operators.notify import on_escalation_change
from luma.streams import stream_consumer

handler = stream_consumer(on_escalation_change)
