"""Observation requests: safe parsing, validation against the site, and ingestion."""
