"""The bot process (``perpdex bot``), one reason to change per module:

- :mod:`.cli`: the command line (``build_parser``, ``resolve_config``, ``main``);
- :mod:`.bot`: :class:`~.bot.BotProcess`, the order in which the process starts, trades (or pauses, or stays halted)
  and stops;
- :mod:`.lifecycle`: exit codes, signals, the stop budget inside the pod's grace period;
- :mod:`.lease`: where the bot lives in Kubernetes and the Lease that lets one process trade it;
- :mod:`.reporting`: phase, sampling of the strategy's snapshot, the status and where it is published;
- :mod:`.risk_halt`: the risk halt recorded in ``status.riskHalt`` that survives restarts;
- :mod:`.events`: what the process does with the strategy's events (metrics, trade log, notifications, lastError);
- :mod:`.endpoints`: ``/healthz`` ``/readyz`` ``/metrics``;
- :mod:`.venues`: connecting the exchange clients, reading the venue back after onStop, closing them;
- :mod:`.preflight_gate`: the preflight checks before the first order (``status.preflight``).

The package imports nothing itself, so ``perpdex bot`` loads only what :mod:`.cli` needs.
"""
