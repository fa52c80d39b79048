"""Thin Prefect task over request ingestion (the pure work is in :mod:`tasks.requests.ingest`)."""

from __future__ import annotations

from typing import Any

from prefect import task

from tasks.requests.ingest import ingest_request_bytes


@task(name="ingest-request", retries=0)
def ingest_request_task(
    xml: str, source: str, user: str = "pyros", again: bool = False
) -> dict[str, Any]:
    """Validate and store a request; never retried (a refused request stays refused).

    Parameters
    ----------
    xml : str
        The request XML text.
    source : str
        Where it came from (shown in messages and the journal).
    user : str
        Submitting user.
    again : bool
        Store it even if the same user already submitted the same content.

    Returns
    -------
    dict
        The stored request (``request_id``, ``sequence_ids``...).

    Raises
    ------
    tasks.requests.parse.RequestError
        When the request is refused (a duplicate too; the database is unchanged).
    """
    return ingest_request_bytes(xml.encode("utf-8"), source, user=user, again=again).as_dict()
