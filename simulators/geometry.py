"""Great circles: the angular distance between two directions and the path of a slew between them.

Positions are (longitude, latitude) pairs in degrees: (RA, Dec) on the sky, (azimuth, altitude)
in the dome. A slew follows the great circle from start to target at a constant angular rate, so
its duration is the angular distance over the rate (plus settling), as the planner assumes
(``tasks/durations.py``).
"""

from __future__ import annotations

import math

Position = tuple[float, float]


def _vector(position: Position) -> tuple[float, float, float]:
    lon, lat = (math.radians(v) for v in position)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


def _position(vector: tuple[float, float, float]) -> Position:
    x, y, z = vector
    lon = math.degrees(math.atan2(y, x)) % 360.0
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    return lon, lat


def separation_deg(a: Position, b: Position) -> float:
    """Angle between two directions in degrees (the haversine-free vector form: exact near 0°
    and 180°)."""
    va, vb = _vector(a), _vector(b)
    cross = (
        va[1] * vb[2] - va[2] * vb[1],
        va[2] * vb[0] - va[0] * vb[2],
        va[0] * vb[1] - va[1] * vb[0],
    )
    dot = sum(p * q for p, q in zip(va, vb, strict=True))
    return math.degrees(math.atan2(math.sqrt(sum(c * c for c in cross)), dot))


def along(a: Position, b: Position, fraction: float) -> Position:
    """The point ``fraction`` (0..1) of the way from ``a`` to ``b`` along the great circle.

    Antipodal points have no unique great circle: the path then goes through the pole nearer to
    ``a`` (any path is as long).
    """
    fraction = min(1.0, max(0.0, fraction))
    if fraction <= 0.0:
        return a
    if fraction >= 1.0:
        return b
    angle = math.radians(separation_deg(a, b))
    if angle < 1e-12:
        return b
    va, vb = _vector(a), _vector(b)
    if math.pi - angle < 1e-9:
        # Rotate through the pole nearer to ``a``: about the axis normal to ``a`` and that pole.
        pole = (0.0, 0.0, 1.0 if va[2] >= 0 else -1.0)
        axis = (
            va[1] * pole[2] - va[2] * pole[1],
            va[2] * pole[0] - va[0] * pole[2],
            va[0] * pole[1] - va[1] * pole[0],
        )
        norm = math.sqrt(sum(c * c for c in axis)) or 1.0
        axis = (axis[0] / norm, axis[1] / norm, axis[2] / norm)
        theta = angle * fraction
        # Rodrigues' rotation of ``va`` about ``axis`` (perpendicular to it) by ``theta``.
        cross = (
            axis[1] * va[2] - axis[2] * va[1],
            axis[2] * va[0] - axis[0] * va[2],
            axis[0] * va[1] - axis[1] * va[0],
        )
        return _position(
            tuple(va[i] * math.cos(theta) + cross[i] * math.sin(theta) for i in range(3))  # type: ignore[arg-type]
        )
    sin_angle = math.sin(angle)
    wa = math.sin((1.0 - fraction) * angle) / sin_angle
    wb = math.sin(fraction * angle) / sin_angle
    return _position(tuple(wa * p + wb * q for p, q in zip(va, vb, strict=True)))  # type: ignore[arg-type]
