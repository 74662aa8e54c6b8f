"""Long-term memory: memory items (DynamoDB, the source of truth), extraction, retrieval, session summaries."""
