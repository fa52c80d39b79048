"""Operator deployments: forms in the Prefect UI that act on the observatory."""

from __future__ import annotations

from prefect import flow, get_run_logger

from tasks.requests.tasks import ingest_request_task


@flow(name="submit-request", log_prints=False)
def submit_request(xml: str, user: str = "pyros", source: str = "prefect-ui") -> dict:
    """Submit an observation request (the XML text, as in a request file).

    A refused request fails the run with the reason (file, line, field); nothing is stored.
    """
    result = ingest_request_task(xml, source, user)
    get_run_logger().info(
        "request %s stored: %d sequence(s)", result["request_id"], result["sequences"]
    )
    return result
