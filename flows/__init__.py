"""Thin Prefect flows composing ``tasks/``; one module per phase of the night. Nothing imports
this package."""
