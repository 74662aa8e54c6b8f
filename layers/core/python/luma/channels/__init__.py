"""Delivery channels (WebSocket now; Twilio later)."""
