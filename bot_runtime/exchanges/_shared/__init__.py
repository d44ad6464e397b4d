"""SDK-free building blocks shared by the venue clients: JSON over HTTP with Decimal money, a reconnecting
WebSocket message source with backoff, and the order-update hub (fan-out, de-duplication, REST reconciliation).

Importing this package imports no venue SDK.
"""
