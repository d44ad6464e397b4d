"""SDK-free building blocks every venue client uses (one implementation each; importing them imports no SDK):

* :mod:`.backoff` - exponential backoff with jitter;
* :mod:`.ws` - the reconnecting WebSocket (resubscribe, REST catch-up after a reconnect, idle timeout, app-level
  pings) and :func:`~.ws.relay` for price streams;
* :mod:`.order_hub` - the order-update hub behind ``order_updates()`` (fan-out, fill de-duplication, order state,
  the placement verdict, REST reconciliation);
* :mod:`.http` - JSON over httpx with Decimal numbers, the HTTP status → error mapping, ``Retry-After``;
* :mod:`.values` - wire numbers and timestamps → Decimal / aware datetimes;
* :mod:`.payload_checks` - venue payloads read strictly (unknown status, missing field, bad quote → an error);
* :mod:`.redaction` - scrubbing secrets (and session cookies) from SDK logs;
* :mod:`.settings` - the connection options every venue reads (base/WS URL, timeouts, reconnect delays);
* :mod:`.client_ids` - client order ids on venues that only take integers.
"""
