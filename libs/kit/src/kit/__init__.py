"""Shared library for every gateway service: only what two services already need."""
