"""The environment synthesis (the original ENV agent's brain): PLC readings -> per-element
records -> a safe/unsafe verdict with hysteresis. Pure: no sockets, no database, no Prefect."""
