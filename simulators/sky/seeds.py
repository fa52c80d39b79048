"""Deterministic random streams: every draw of the renderer comes from a named, seeded stream.

A stream is named by plain values (the global seed, a purpose tag, a sky cell, an instrument, a
time...), hashed with SHA-256 into the entropy of a NumPy ``SeedSequence``; Python's ``hash`` is
salted per process and never used. The same names give the same numbers in every process.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_int(*parts: object) -> int:
    """A 128-bit integer from the ``repr`` of each part (stable across processes and runs)."""
    digest = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:16], "little")


def seed_sequence(*parts: object) -> np.random.SeedSequence:
    """The ``SeedSequence`` of the stream named by ``parts``."""
    return np.random.SeedSequence(stable_int(*parts))


def generator(*parts: object) -> np.random.Generator:
    """A fast generator (SFC64) for the stream named by ``parts``."""
    return np.random.Generator(np.random.SFC64(seed_sequence(*parts)))


def generators(count: int, *parts: object) -> list[np.random.Generator]:
    """``count`` independent generators spawned from the stream named by ``parts``.

    Used to draw a frame's noise in row bands on several threads: each band has its own stream,
    so the frame does not depend on how many threads drew it.
    """
    return [np.random.Generator(np.random.SFC64(s)) for s in seed_sequence(*parts).spawn(count)]
