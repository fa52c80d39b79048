"""The background publisher: only the latest publication per key, in a copy of the caller's
context (a Prefect run's artifact stays linked to the run), failures never stop the next."""

from __future__ import annotations

import contextvars
import threading

import pytest

from tasks.controlroom.latest_only import LatestOnlyPublisher

_WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def _blocked(publisher: LatestOnlyPublisher) -> threading.Event:
    """Occupy the publisher's thread until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    publisher.submit("hold", hold)
    assert started.wait(10)
    return release


def test_a_slow_publication_keeps_only_the_latest_of_each_key_in_the_order_of_news():
    publisher = LatestOnlyPublisher()
    release = _blocked(publisher)
    called: list[str] = []
    for i in range(5):
        publisher.submit("progress", lambda i=i: called.append(f"progress {i}"))
    publisher.submit("health", lambda: called.append("health"))
    publisher.submit("progress", lambda: called.append("progress last"))
    assert publisher.pending() == 3  # the held one, one per key
    assert not publisher.flush(timeout_s=0.2)  # still held: flush says it did not finish
    release.set()
    assert publisher.flush(timeout_s=10)
    assert called == ["health", "progress last"]
    assert (publisher.published, publisher.replaced) == (3, 5)


def test_a_failing_publication_is_logged_and_the_next_ones_go_on(caplog):
    publisher = LatestOnlyPublisher()
    called: list[str] = []

    def fail() -> None:
        raise RuntimeError("the Prefect API is away")

    publisher.submit("a", fail)
    publisher.submit("b", lambda: called.append("b"))
    assert publisher.flush(timeout_s=10)
    assert called == ["b"]
    assert "publication 'a' failed" in caplog.text
    assert "the Prefect API is away" in caplog.text


def test_a_publication_runs_in_the_context_it_was_asked_in():
    publisher = LatestOnlyPublisher()
    seen: list[str] = []
    token = _WHO.set("the night's flow")
    try:
        publisher.submit("a", lambda: seen.append(_WHO.get()))
    finally:
        _WHO.reset(token)
    publisher.submit("b", lambda: seen.append(_WHO.get()))
    assert publisher.flush(timeout_s=10)
    assert seen == ["the night's flow", "nobody"]


@pytest.mark.prefect
@pytest.mark.xdist_group("prefect")
def test_an_artifact_published_later_is_linked_to_the_flow_run_that_asked(prefect_harness):
    from prefect import flow
    from prefect.artifacts import Artifact, MarkdownArtifact
    from prefect.runtime import flow_run

    from tasks.controlroom.latest_only import flush_publications, publish_later
    from tasks.controlroom.prefect_tasks import upsert_artifact

    @flow
    def publish_in_the_background() -> str:
        for i in range(3):
            publish_later(
                "test-later",
                lambda i=i: upsert_artifact(
                    MarkdownArtifact(key="test-later", markdown=f"# take {i}")
                ),
            )
        assert flush_publications(timeout_s=30)
        return str(flow_run.id)

    run_id = publish_in_the_background()
    latest = Artifact.get("test-later")
    assert latest is not None and latest.data == "# take 2"
    assert str(latest.flow_run_id) == run_id
