"""One module per command or workflow step; each exposes `register(app)`."""
