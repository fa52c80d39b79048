"""Publishing the control room's artifacts: under stable keys, updated in place.

Prefect keeps every artifact created under a key as a new version; an artifact republished
after every frame would grow the database all night. :func:`upsert_artifact` instead updates
the key's latest version in place (``PATCH /artifacts/{id}``, which also updates the key's
collection entry that the UI shows) and creates it only the first time, so each key holds one
artifact of bounded size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from httpx import HTTPStatusError
from prefect.artifacts import (
    Artifact,
    ImageArtifact,
    MarkdownArtifact,
    ProgressArtifact,
    TableArtifact,
)
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    ArtifactFilter,
    ArtifactFilterKey,
    ArtifactFilterType,
)
from prefect.client.schemas.objects import ArtifactCollection
from prefect.client.schemas.sorting import ArtifactSort
from prefect.exceptions import ObjectNotFound
from prefect.types import DateTime

from infra.config_controlroom import ControlRoomSection
from infra.db import session_scope
from infra.events import prefect_configured
from tasks.controlroom.preview_store import StoredPreview, latest_previews, store_preview
from tasks.controlroom.previews import PreviewError, preview_of_file
from tasks.controlroom.progress import SEQUENCE_PROGRESS_KEY, sequence_progress
from tasks.controlroom.views import (
    DEVICE_HEALTH_KEY,
    LATEST_PREVIEW_KEY,
    PREVIEWS_KEY,
    device_health_description,
    device_health_rows,
    previews_markdown,
)
from tasks.night.device_health import DeviceHealth

log = logging.getLogger(__name__)


def upsert_artifact(artifact: Artifact) -> UUID:
    """Update the latest artifact under ``artifact.key`` in place with ``artifact``'s content
    and description, or create it when the key has none (or one of another type); returns
    the artifact's id.

    Publishers in several processes (a block's flow and an alert's follow-up both publish
    ``pyros-sequence-progress``) may all find no artifact and each create one; each then
    converges (:func:`_converge_created`) so that the key keeps one artifact."""
    if not artifact.key:
        raise ValueError("an artifact updated in place needs a key")
    data = artifact.format(_sync=True)  # type: ignore[call-arg]
    update = ArtifactUpdate(data=data, description=artifact.description)
    with get_client(sync_client=True) as client:
        for _ in range(3):  # the version found may be deleted by a converging publisher
            found = _latest_of_key(client, artifact.key)
            if found is None or found.type != artifact.type:
                break
            if _updated(client, found.latest_id, update):
                return found.latest_id
        # async_dispatch: the sync call returns the created artifact, not a coroutine.
        created: Any = artifact.create(_sync=True)  # type: ignore[call-arg]
        since = found.created if found is not None else None
        return _converge_created(
            client, artifact.key, artifact.type, cast(UUID, created.id), since, update
        )


def _updated(client: SyncPrefectClient, artifact_id: UUID, update: ArtifactUpdate) -> bool:
    """Give ``artifact_id`` the content ``update``; False when it is gone (deleted by a
    converging publisher since it was read)."""
    try:
        client.update_artifact(artifact_id, update)
    except HTTPStatusError as exc:
        if exc.response.status_code != 404:
            raise
        return False
    return True


def _latest_of_key(client: SyncPrefectClient, key: str) -> ArtifactCollection | None:
    """The key's latest version (its collection entry), None when the key has none."""
    found = client.read_latest_artifacts(
        artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key])),
        limit=1,
    )
    return found[0] if found else None


def _converge_created(
    client: SyncPrefectClient,
    key: str,
    kind: str | None,
    ours: UUID,
    since: DateTime | None,
    update: ArtifactUpdate,
) -> UUID:
    """After creating ``ours`` under ``key``: of the versions of type ``kind`` created
    since the version the publisher found (``since``; every one when it found none), keep the
    oldest, delete the others, and give the kept one ``update`` when it is not ours; returns
    the kept one's id.

    Every racing publisher picks the same oldest one once all their versions are visible, and
    a later creation is never older, so the key ends with one artifact. A version's ``created``
    is stamped before its insert commits, so an older one may appear after a publisher chose:
    the publisher's update then finds its choice deleted (404) and it reads again."""
    kept_id = ours
    for _ in range(5):
        versions = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                type=ArtifactFilterType(any_=[kind]) if kind else None,
            ),
            sort=ArtifactSort.CREATED_DESC,
            limit=100,
        )
        racing = [v for v in versions if since is None or (v.created and v.created > since)]
        if len(racing) <= 1:
            return racing[0].id if racing else ours
        kept = min(racing, key=lambda v: (v.created, str(v.id)))
        kept_id = kept.id
        for version in racing:
            if version.id != kept.id:
                with suppress(ObjectNotFound):  # deleted by another racing publisher
                    client.delete_artifact(version.id)
        if kept.id == ours or _updated(client, kept.id, update):
            return kept.id
    return kept_id


def publish_previews(room: ControlRoomSection, directory: Path) -> list[StoredPreview]:
    """Update ``pyros-previews`` (the latest previews, Markdown) and ``pyros-preview-latest``
    (the newest frame's URL, an image artifact) in place; returns the previews listed."""
    previews = latest_previews(directory, room.previews_keep)
    base = room.previews_base_url()
    upsert_artifact(
        MarkdownArtifact(
            key=PREVIEWS_KEY,
            markdown=previews_markdown(previews, base),
            description=f"Previews of the latest {len(previews)} frame(s), newest first.",
        )
    )
    if previews:
        newest = previews[0]
        upsert_artifact(
            ImageArtifact(
                key=LATEST_PREVIEW_KEY,
                image_url=newest.url(base),
                description=f"Newest frame {newest.image_id}: {newest.candidates} candidate(s).",
            )
        )
    return previews


def preview_frame(
    summary: Mapping[str, Any], room: ControlRoomSection, directory: Path
) -> StoredPreview | None:
    """Render and store the preview of an analysed frame (``path`` and ``candidates`` of its
    NRT summary), and publish the previews' artifacts when Prefect is configured. None when
    previews are off, the frame has no file or cannot be read, or the preview cannot be stored;
    every failure is logged, never raised (the analysis goes on)."""
    path = summary.get("path")
    if not room.previews_enabled or not path:
        return None
    candidates: Iterable[Mapping[str, Any]] = summary.get("candidates") or []
    try:
        png = preview_of_file(
            path, candidates, size_px=room.preview_size_px, stretch=room.preview_stretch
        )
    except PreviewError as exc:
        log.warning("no preview of %s: %s", summary.get("image_id"), exc)
        return None
    try:
        stored = store_preview(
            directory,
            str(summary["image_id"]),
            png,
            candidates=len(list(summary.get("candidates") or [])),
            keep=room.previews_keep,
        )
    except OSError as exc:  # a full or read-only disk: the analysis goes on without previews
        log.warning("preview of %s not stored: %s", summary.get("image_id"), exc)
        return None
    if prefect_configured():
        try:
            publish_previews(room, directory)
        except Exception as exc:  # the Prefect API away: the next frame publishes them all
            log.warning("previews artifacts not published: %s", exc)
    return stored


class DeviceHealthArtifact:
    """Keeps ``pyros-device-health`` current: the night loop hands it every look at the devices,
    and it updates the artifact in place only when the table changed (a poll costs nothing
    otherwise). A failure to publish is logged and tried again at the next look: the night
    never stops for the control room."""

    def __init__(self) -> None:
        self._published: list[dict[str, str]] | None = None

    def update(self, health: Iterable[DeviceHealth]) -> bool:
        """Publish ``health`` if it differs from what was published; True when published."""
        rows = device_health_rows(health)
        if rows == self._published or not prefect_configured():
            return False
        try:
            upsert_artifact(
                TableArtifact(
                    key=DEVICE_HEALTH_KEY, table=rows, description=device_health_description(rows)
                )
            )
        except Exception as exc:  # the Prefect API away: the next look tries again
            log.warning("device health artifact not published: %s", exc)
            return False
        self._published = rows
        return True


def publish_sequence_progress(sequence_id: int, state: str = "running") -> float | None:
    """Update ``pyros-sequence-progress`` in place with ``sequence_id``'s frames stored over
    planned (Prefect's progress artifact); returns the percentage, None without Prefect or
    when it could not be published (logged: the sequence goes on)."""
    if not prefect_configured():
        return None
    try:
        with session_scope() as session:
            progress = sequence_progress(session, sequence_id)
        if progress is None:
            return None
        upsert_artifact(
            ProgressArtifact(
                key=SEQUENCE_PROGRESS_KEY,
                progress=progress.percent,
                description=progress.describe(state),
            )
        )
    except Exception as exc:  # the Prefect API or the database away: the sequence goes on
        log.warning("progress of sequence %s not published: %s", sequence_id, exc)
        return None
    return progress.percent
