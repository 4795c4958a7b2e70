"""The ``scissor`` command line, on top of every other layer: one module per command group."""
