"""The funding service's wire contract and its client, on the runtime side: the collector pushes
:mod:`.ingest` batches, funding-arb bots read :mod:`.models` answers through :mod:`.client`. The service
(``funding_service``) imports these models to answer with them; nothing here imports the service."""
