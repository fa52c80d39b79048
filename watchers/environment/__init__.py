"""The environment monitor process: poll the PLC, synthesise (``tasks.environment``), act through
the safety reflex, record through a write-behind queue."""
