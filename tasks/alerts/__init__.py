"""GRB alerts: safe VOEvent parsing, burst identity, the follow-up policy and its strategies.

Pure modules first (:mod:`.decision`, :mod:`.parse`, :mod:`.missions`, :mod:`.identity`,
:mod:`.strategy`, :mod:`.visibility`, :mod:`.policy`, and :mod:`.evaluate`, the path without a
database); :mod:`.alert_rows` and :mod:`.handle` add the database, and
:func:`tasks.alerts.handle.handle_packet` is the one entry point for raw packets.
"""
