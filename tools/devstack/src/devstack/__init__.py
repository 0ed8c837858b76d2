"""Runs the gateway natively for development and tests: no Docker, no root-installed servers."""
