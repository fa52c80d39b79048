"""The domain: pure functions first, thin Prefect ``@task`` wrappers in ``*/prefect_tasks.py``.

Modules other than ``prefect_tasks.py`` never import Prefect, so the CLI and watchers stay fast.
"""
