"""The domain: pure functions first, thin Prefect ``@task`` wrappers in ``*/tasks.py`` modules.

Modules outside ``tasks.py`` files never import Prefect, so the CLI and watchers stay fast.
"""
