"""The gcp2aws test suite: ``unit/`` mirrors src/gcp2aws, ``functional/`` runs real processes.

A package so that ``tests.support`` imports the same way from every test, conftest and tool.
"""
