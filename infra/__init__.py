"""Infrastructure everything stands on: settings, configuration, database, clock, journal and
events."""
