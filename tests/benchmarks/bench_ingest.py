"""``make bench B=ingest``: sequences per second for a 1,000-sequence request file.

Measures the whole ingestion (safe parse, XSD, validation against the site with SkyCoord for
every target, one transaction with the journal entry), best of 3, on SQLite (and on PostgreSQL
when ``PYROS_TEST_POSTGRES_URL`` is set, in a database created and dropped here).
"""

from __future__ import annotations

import os
import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.benchmarks.common import emit, isolated_home, machine

SEQUENCES = 1000


def _run(url: str, backend: str, data: bytes) -> None:
    from infra.config import load_config
    from infra.db.bootstrap import init_database
    from infra.db.engine import create_pyros_engine
    from tasks.requests.ingest import ingest_request_bytes

    engine = create_pyros_engine(url)
    init_database(engine, load_config())
    timings = []
    for attempt in range(3):
        started = time.perf_counter()
        result = ingest_request_bytes(data, f"bench-{attempt}.xml", engine=engine, again=True)
        timings.append(time.perf_counter() - started)
        assert len(result.sequence_ids) == SEQUENCES
    engine.dispose()
    best = min(timings)
    emit(
        "ingest",
        backend=backend,
        sequences=SEQUENCES,
        file_bytes=len(data),
        seconds=round(best, 4),
        sequences_per_second=round(SEQUENCES / best, 1),
        **machine(),
    )


def main() -> None:
    with isolated_home() as home:
        from tests.support.requests import many_sequences_xml

        data = many_sequences_xml(SEQUENCES).encode()
        _run(f"sqlite:///{home / 'bench.db'}", "sqlite", data)
        admin = os.environ.get("PYROS_TEST_POSTGRES_URL")
        if admin:
            name = f"pyros_bench_{uuid.uuid4().hex[:10]}"
            admin_engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with admin_engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                _run(
                    make_url(admin).set(database=name).render_as_string(hide_password=False),
                    "postgresql",
                    data,
                )
            finally:
                with admin_engine.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin_engine.dispose()


if __name__ == "__main__":
    main()
