"""The blind search of a tiled follow-up's frames (issue 26 item 3).

When an alert's error circle is larger than the frame (a GBM or GRM box tiled by the strategy),
the circle no longer helps: every source in the frame lies inside it, and the chance probability
of an unrelated source grows with the distance from the circle's centre until no alert candidate
passes away from it. Such a frame is searched **blindly** by difference imaging
(:func:`tasks.nrt.difference.search_analysed`): what the frame holds that the reference does
not, anywhere in the frame, vetted.

:func:`wants_blind_search` is the pure choice (``[nrt] blind_search``: ``off``, ``tiled`` — only
frames whose alert circle does not fit in them — or ``always``, every follow-up frame);
:func:`blind_candidates` merges what the search keeps into the frame's candidates.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import numpy as np

from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.candidates import AlertRegion, Candidate, CandidateKind
from tasks.nrt.catalog import CatalogCache
from tasks.nrt.difference import search_analysed
from tasks.nrt.pipeline import FrameAnalysis

BlindSearch = Literal["off", "tiled", "always"]


def wants_blind_search(
    mode: BlindSearch, alert: AlertRegion | None, shape: tuple[int, int], scale_arcsec: float
) -> bool:
    """Whether a frame is searched blindly by difference imaging.

    Parameters
    ----------
    mode : {"off", "tiled", "always"}
        ``[nrt] blind_search``.
    alert : AlertRegion, optional
        The frame's alert (None: not a follow-up frame, never searched).
    shape : (int, int)
        The frame's (height, width), pixels.
    scale_arcsec : float
        Its pixel scale.

    Returns
    -------
    bool
        ``always``: any follow-up frame; ``tiled``: a follow-up frame whose alert's error radius
        is larger than half the frame's shorter side (the strategy tiles such a circle: the
        circle does not fit in one pointing); ``off``: never.
    """
    if alert is None or mode == "off":
        return False
    if mode == "always":
        return True
    half_field_arcsec = 0.5 * min(shape) * scale_arcsec
    return alert.error_arcsec > half_field_arcsec


def blind_candidates(
    analysis: FrameAnalysis,
    catalog: CatalogCache,
    alert: AlertRegion,
    max_offset_arcsec: float,
    link_radius_arcsec: float,
) -> tuple[list[Candidate], dict[str, Any]]:
    """The frame's candidates with what its difference search keeps.

    The difference search's candidates (``"method": "difference"``, kinds ``new`` or
    ``brightened``) carry the alert (``alert_ivorn``, ``alert_distance_arcsec``) and no chance
    probability: they are found without the circle's help. An aperture ``new`` candidate within
    ``link_radius_arcsec`` of one is replaced by it (the same source, its flux measured on the
    difference: a transient on a star is its own flux, not the blend's); the analysis's
    ``alert`` and ``brightened`` candidates stay.

    Returns
    -------
    candidates : list of dict
        The merged candidates.
    summary : dict
        ``kept`` and ``rejected`` peaks, the rejections by reason, ``seconds``.
    """
    result = search_analysed(analysis, catalog, max_offset_arcsec)
    found = [dict(c) for c in result.candidates]
    for candidate in found:
        distance = separation_arcsec(candidate["ra"], candidate["dec"], alert.ra_deg, alert.dec_deg)
        candidate.update(
            alert_ivorn=alert.ivorn,
            alert_distance_arcsec=round(float(distance), 3),
            chance_probability=None,
        )
    kept = [c for c in analysis.candidates if not _replaced(c, found, link_radius_arcsec)]
    reasons = Counter(rejected["vetting"] for rejected in result.rejected)
    summary = {
        "kept": len(found),
        "rejected": len(result.rejected),
        "rejected_by": dict(reasons.most_common()),
        "seconds": round(result.seconds.get("total", 0.0), 3),
    }
    return kept + found, summary


def _replaced(candidate: Candidate, found: list[Candidate], radius_arcsec: float) -> bool:
    """Whether an aperture ``new`` candidate is one the difference search found."""
    if candidate.get("kind") != CandidateKind.NEW.value or not found:
        return False
    ra = np.array([c["ra"] for c in found], dtype=float)
    dec = np.array([c["dec"] for c in found], dtype=float)
    distance = separation_arcsec(candidate["ra"], candidate["dec"], ra, dec)
    return bool(np.any(distance <= radius_arcsec))
