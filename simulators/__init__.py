"""Device simulators speaking the device protocol, the scenario player, and sample data
(``simulators/data``). Nothing here imports ``flows/`` or ``tasks/``."""

from pathlib import Path

#: Bundled data: the seed's PLC reply, request files, scenarios.
DATA_DIR = Path(__file__).resolve().parent / "data"
