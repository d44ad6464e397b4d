"""perp-dex-operator."""
