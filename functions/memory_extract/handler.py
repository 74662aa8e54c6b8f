"""Conversations stream (new user messages): extract long-term memories into DynamoDB and the search index."""

from luma.memory.consumers import on_message_change
from luma.streams import stream_consumer

handler = stream_consumer(on_message_change)
