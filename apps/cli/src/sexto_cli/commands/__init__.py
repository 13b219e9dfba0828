"""The `sexto` commands, one module per group."""
