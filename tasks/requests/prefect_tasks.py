"""Thin Prefect tasks over requests: ingestion (:mod:`tasks.requests.ingest`), cancellation and
images (:mod:`tasks.requests.lifecycle`), and the request artifact (:mod:`.summary`).

The artifact is published under the stable key ``request-<id>`` (each publication is a new
version: the request's history in the UI), only when a Prefect API is configured.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select

from infra.clock import get_clock
from infra.db import session_scope
from infra.db.models import Sequence
from infra.events import prefect_configured
from infra.journal import to_json_payload
from tasks.requests.ingest import ingest_request_bytes
from tasks.requests.lifecycle import announce_cancel, cancel_request, request_images
from tasks.requests.summary import artifact_key, request_summary, summary_markdown

log = logging.getLogger(__name__)


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


@task(name="cancel-request", cache_policy=NO_CACHE, retries=0)
def cancel_request_task(request_id: int, user: str, reason: str = "") -> dict[str, Any]:
    """Cancel ``request_id`` on behalf of ``user`` and emit ``pyros.request.cancelled``.

    Returns
    -------
    dict
        :meth:`tasks.requests.lifecycle.CancelResult.as_dict`.

    Raises
    ------
    tasks.requests.people.AccessError
        A refusal (the database is unchanged).
    """
    clock = get_clock()
    with session_scope() as session:
        result = cancel_request(session, request_id, user, reason, clock.now())
    announce_cancel(result, user, clock)
    return result.as_dict()


@task(name="request-images", cache_policy=NO_CACHE, retries=0)
def request_images_task(request_id: int) -> list[dict[str, Any]]:
    """The images of ``request_id`` (JSON-able; see
    :func:`tasks.requests.lifecycle.request_images`)."""
    with session_scope() as session:
        return list(to_json_payload(request_images(session, request_id)))


def publish_request(request_id: int) -> str | None:
    """Publish the artifact of ``request_id`` (a new version under ``request-<id>``); returns
    the key, None without a Prefect API.

    Raises
    ------
    tasks.requests.people.AccessError
        When there is no such request.
    """
    if not prefect_configured():
        return None
    with session_scope() as session:
        summary = request_summary(session, request_id)
    key = artifact_key(request_id)
    create_markdown_artifact(
        key=key,
        markdown=summary_markdown(summary),
        description=(
            f"Request {request_id} {summary['name']!r}: {summary['state']}, "
            f"{len(summary['sequences'])} sequence(s), {len(summary['images'])} image(s)"
        ),
    )
    return key


def try_publish_request(request_id: int) -> str | None:
    """:func:`publish_request`, where a failure costs a warning only (after a commit: the
    request is stored or cancelled whatever the UI says; the night never waits on it)."""
    try:
        return publish_request(request_id)
    except Exception as exc:
        log.warning("artifact of request %s not published: %s", request_id, exc)
        return None


def publish_request_of_sequence(sequence_id: int) -> str | None:
    """Publish the artifact of the request of ``sequence_id`` (after it ran); None when there
    is no such sequence or publishing failed (a warning)."""
    try:
        with session_scope() as session:
            request_id = session.scalar(
                select(Sequence.request_id).where(Sequence.id == sequence_id)
            )
    except Exception as exc:
        log.warning("artifact of the request of sequence %s not published: %s", sequence_id, exc)
        return None
    return None if request_id is None else try_publish_request(request_id)
