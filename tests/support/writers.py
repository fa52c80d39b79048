"""Writer processes for concurrency tests: ``python -m tests.support.writers KIND COUNT``.

Both use the process database (``PYROS_DATABASE_URL``) and print one JSON line of what they did.
"""

from __future__ import annotations

import json
import sys
import time


def journal_writer(count: int) -> dict:
    from infra.journal import record

    for i in range(count):
        record("plc", "writer", {"i": i, "RainRate": 0.0})
    return {"journal_entries": count}


def request_writer(count: int) -> dict:
    from tasks.requests.ingest import ingest_request_bytes
    from tests.support.requests import many_sequences_xml

    data = many_sequences_xml(20, sidereal=False).encode()
    for i in range(count):
        ingest_request_bytes(data, f"concurrent-{i}.xml", again=True)
    return {"requests": count, "sequences": 20 * count}


def main() -> None:
    kind, count = sys.argv[1], int(sys.argv[2])
    started = time.monotonic()
    done = {"journal": journal_writer, "requests": request_writer}[kind](count)
    print(json.dumps({**done, "seconds": round(time.monotonic() - started, 3)}))


if __name__ == "__main__":
    main()
