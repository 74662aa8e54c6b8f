"""Conversations stream (memory items removed: expired by TTL, or erased): their search-index documents go too."""

from luma.memory.consumers import on_memory_removed
from luma.streams import stream_consumer

handler = stream_consumer(on_memory_removed)
