"""The application shell: the ``pyros`` CLI, the supervisor behind ``pyros up``, the stack's
processes and the Prefect bootstrap. The composition root: it may import every other package, and
nothing imports it."""
