"""The ``telescope`` slot's hand-off between two runs on a real Prefect server (the test
harness), with Prefect's default retry cap and with the stack's (``app.stack``,
``SLOT_RETRY_CAP_WALL_S``), side by side in one run: a holder keeps the slot ``HOLD_S`` wall
seconds (a night block holds it for its whole length), a waiter asks meanwhile; the figure is the
wall seconds from the holder's release to the waiter's acquisition. Each setting runs in a process
of its own (the server reads its settings at start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from app.stack import SLOT_RETRY_CAP_WALL_S
from tests.benchmarks.common import emit, machine

SETTING = "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS"
HOLD_S = float(os.environ.get("SLOT_HOLD_S", "20"))
TRIALS = int(os.environ.get("SLOT_TRIALS", "5"))


def handoffs(hold_s: float, trials: int) -> list[float]:
    """Measure ``trials`` hand-offs on a fresh harness server (this process's settings)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency
    from prefect.testing.utilities import prefect_test_harness

    measured = []
    with prefect_test_harness(server_startup_timeout=90):
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="telescope", limit=1)
            )
        for _ in range(trials):
            released: list[float] = []

            def hold(released: list[float]) -> None:
                with concurrency("telescope", strict=True):
                    time.sleep(hold_s)
                released.append(time.monotonic())

            holder = threading.Thread(target=hold, args=(released,))
            holder.start()
            time.sleep(1.0)  # the holder has the slot: the waiter is refused, told to retry
            with concurrency("telescope", strict=True):
                acquired = time.monotonic()
            holder.join()
            measured.append(acquired - released[0])
    return measured


def _child(cap: str | None) -> list[float]:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    if cap is None:
        env.pop(SETTING, None)
    else:
        env[SETTING] = cap
    code = (
        "import json; from tests.benchmarks.bench_telescope_slot import handoffs; "
        f"print(json.dumps(handoffs({HOLD_S}, {TRIALS})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return [float(x) for x in json.loads(result.stdout.strip().splitlines()[-1])]


def main() -> None:
    for label, cap in (("prefect_default", None), ("stack", f"{SLOT_RETRY_CAP_WALL_S:g}")):
        seconds = sorted(_child(cap))
        emit(
            "telescope_slot",
            setting=label,
            retry_cap_s=cap or "30 (Prefect's default)",
            hold_s=HOLD_S,
            trials=TRIALS,
            handoff_p50_s=round(seconds[len(seconds) // 2], 3),
            handoff_max_s=round(seconds[-1], 3),
            handoffs_s=[round(x, 3) for x in seconds],
            load_average_1min=round(os.getloadavg()[0], 2),
            **machine(),
        )


if __name__ == "__main__":
    main()
