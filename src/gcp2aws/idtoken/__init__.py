"""Google ID tokens: one module per token source, the registry that lists them, the chain."""
