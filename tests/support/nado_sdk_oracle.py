"""The official Nado SDK (nado-protocol 2.0.0) as the tests' oracle, imported under a compatibility shim.

The SDK imports ``eth_account.messages.encode_structured_data``, which eth-account 0.13 removed; :func:`sdk` puts it
back - in the test process only, pods never import the SDK - as a wrapper around 0.13's
``encode_typed_data(full_message=...)``, then imports the SDK modules the tests use. ``None`` when the SDK is not
installed (the tests that need it skip)."""

from __future__ import annotations

import importlib
import importlib.util
from types import SimpleNamespace
from typing import Any


def install_shim() -> None:
    import eth_account.messages as messages
    from eth_account.messages import encode_typed_data

    if not hasattr(messages, "encode_structured_data"):

        def encode_structured_data(primitive: Any) -> Any:
            return encode_typed_data(full_message=primitive)

        setattr(messages, "encode_structured_data", encode_structured_data)  # noqa: B010 - the shim itself


def sdk() -> SimpleNamespace | None:
    if importlib.util.find_spec("nado_protocol") is None:
        return None
    install_shim()
    names = {
        "sign": "nado_protocol.contracts.eip712.sign",
        "contract_types": "nado_protocol.contracts.types",
        "bytes32": "nado_protocol.utils.bytes32",
        "expiration": "nado_protocol.utils.expiration",
        "nonce": "nado_protocol.utils.nonce",
        "order": "nado_protocol.utils.order",
        "engine_query": "nado_protocol.engine_client.types.query",
        "engine_execute": "nado_protocol.engine_client.types.execute",
        "engine_models": "nado_protocol.engine_client.types.models",
        "indexer_query": "nado_protocol.indexer_client.types.query",
        "indexer_models": "nado_protocol.indexer_client.types.models",
    }
    return SimpleNamespace(**{key: importlib.import_module(module) for key, module in names.items()})


def recover_signer(tx: Any, message: dict[str, Any], verifying_contract: str, chain_id: int, signature: str) -> str:
    """The address that signed ``message`` as the SDK builds it (``build_eip712_typed_data``)."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    oracle = sdk()
    assert oracle is not None
    typed = oracle.sign.build_eip712_typed_data(tx, message, verifying_contract, chain_id)
    return str(Account.recover_message(encode_typed_data(full_message=typed.model_dump()), signature=signature))
