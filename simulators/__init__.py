"""Device simulators speaking the device protocol, the scenario player, and sample data
(``simulators/data``). Nothing here imports ``flows/`` or ``tasks/``."""
