"""The scheduler: plan tonight from thousands of sequences, and re-plan in milliseconds.

Pure modules, from the sky to the plan: :mod:`~tasks.scheduling.night_times` (twilights, flats,
moon), :mod:`~tasks.scheduling.observability` (one transform for every target),
:mod:`~tasks.scheduling.problem` (feasible start intervals or the reason there are none),
:mod:`~tasks.scheduling.timeline`, :mod:`~tasks.scheduling.draft` (the schedule being made),
:mod:`~tasks.scheduling.planner` and :mod:`~tasks.scheduling.improve` (the planning),
:mod:`~tasks.scheduling.objective`, and :mod:`~tasks.scheduling.tonight` (the entry points).
:mod:`~tasks.scheduling.load` and :mod:`~tasks.scheduling.schedule_rows` read from and save to
the database, :mod:`~tasks.scheduling.view` reads a saved schedule for display;
:mod:`~tasks.scheduling.prefect_tasks` holds the Prefect tasks.
The objective and the method are written out in docs/scheduler.md.
"""
