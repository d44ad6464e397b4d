"""Names shared by the builders, the handlers and the tests: API groups, labels, annotations, the field manager."""

from __future__ import annotations

from typing import Final

GROUP: Final = "perpdex.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
TRADINGBOT_KIND: Final = "TradingBot"
TRADINGBOT_PLURAL: Final = "tradingbots"
COLLECTOR_KIND: Final = "FundingCollector"
COLLECTOR_PLURAL: Final = "fundingcollectors"

FIELD_MANAGER: Final = "perpdex-operator"
FINALIZER: Final = "perpdex.io/finalizer"
EVENT_COMPONENT: Final = "perpdex-operator"

# labels (app.kubernetes.io/* recommended labels)
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
MANAGED_BY: Final = "perpdex-operator"
PART_OF: Final = "perp-dex-operator"
MANAGED_SELECTOR: Final = f"{LABEL_MANAGED_BY}={MANAGED_BY}"

# annotations
CONFIG_HASH_ANNOTATION: Final = "perpdex.io/config-hash"  # on pod templates: a change rolls the pod
APPLIED_HASH_ANNOTATION: Final = "perpdex.io/applied-hash"  # on every child: hash of the manifest last applied

# the pod contract (the bot/collector processes and the pod runner rely on it)
CONFIG_DIR: Final = "/etc/perpdex"
CONFIG_KEY: Final = "config.yaml"
CONFIG_PATH: Final = f"{CONFIG_DIR}/{CONFIG_KEY}"
METRICS_PORT: Final = 8080
METRICS_PORT_NAME: Final = "metrics"
RUN_AS_USER: Final = 10001
INGEST_TOKEN_KEY: Final = "token"  # noqa: S105 - the key name in the Secret, not a value

# the kinds as the labels name them
BOT_APP: Final = "tradingbot"
COLLECTOR_APP: Final = "fundingcollector"
