"""The funding collector (`perpdex collect`): every venue's funding data, each cycle, pushed to the funding service."""
