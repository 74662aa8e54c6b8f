"""The HTTP API (FastAPI behind Mangum for an API Gateway HTTP API, payload 2.0)."""
