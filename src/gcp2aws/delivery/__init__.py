"""Delivering credentials: the endpoint server, token files, shell env, refresh timing."""
