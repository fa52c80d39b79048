"""Two processes writing the embedded SQLite database at once (journal + requests) never hit
"database is locked" (WAL, busy timeout, BEGIN IMMEDIATE)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import func, select

from infra.db import session_scope
from infra.db.models import JournalEntry, Request, Sequence
from tests.support.databases import only_on


@only_on("sqlite")  # the locking question is SQLite's
def test_journal_and_request_writers_in_two_processes(engine):
    env = {**os.environ}
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.writers", "journal", "600"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.writers", "requests", "30"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    outputs = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert "database is locked" not in err
        assert writer.returncode == 0, err
        json.loads(out.strip().splitlines()[-1])
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 30
        assert session.scalar(select(func.count()).select_from(Sequence)) == 600
        kinds = dict(
            session.execute(
                select(JournalEntry.kind, func.count()).group_by(JournalEntry.kind)
            ).all()
        )
        assert kinds["plc"] == 600 and kinds["request"] == 30
