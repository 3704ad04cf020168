"""Helpers shared across the test suite; fixtures live in the conftest.py of each folder."""
