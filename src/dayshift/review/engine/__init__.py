"""The review engine: one parse and one index per module, then every selected rule."""
