"""`gcp2aws doctor`: checks from the Python version to the exchange, each with its fix."""
