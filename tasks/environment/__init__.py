"""The environment, as pure decisions and the state operators and flows share with the monitor.

Pure (no sockets, no database, no Prefect): :mod:`.plc` reads the PLC's STATUS reply,
:mod:`.elements` turns it into one record per element, :mod:`.synthesis` into global statuses and
whether the dome must close, and :mod:`.hysteresis` into a safe/unsafe verdict. The one module
with a database, :mod:`.observatory_state`, keeps the rows the monitor and its askers share (the
dome request, operator overrides, the last weather verdict). The monitor process itself, which
polls, acts and records, is :mod:`watchers.environment`.
"""
