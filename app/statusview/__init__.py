"""``pyros status``: one screen that tells the state of the observatory.

:mod:`~app.statusview.gather` collects it (device gateways' STATUS with no lease and a short
timeout, the database, the supervisor's process list) into the typed structure of
:mod:`~app.statusview.model`; :mod:`~app.statusview.render` draws it with rich.
"""
