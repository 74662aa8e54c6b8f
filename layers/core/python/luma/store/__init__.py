"""Persistence: PynamoDB rows behind repository ports."""
