"""Request XML builders for tests and benchmarks."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr


def plan_xml(
    filter_name: str = "r", duration: str = "10", nb_images: str = "3", name: str = "p"
) -> str:
    return (
        f"<plan duration={quoteattr(duration)} filter={quoteattr(filter_name)} "
        f"name={quoteattr(name)} nb_images={quoteattr(nb_images)}/>"
    )


def sequence_xml(
    name: str = "s",
    *,
    jd1: str = "15",
    jd2: str = "60000",
    duration: str = "60",
    coords: str = "10",
    detector: str = "Visible camera",
    plans: str | None = None,
    extra: str = "",
) -> str:
    plans = plans if plans is not None else plan_xml()
    return (
        f"  <sequence duration={quoteattr(duration)} jd1={quoteattr(jd1)} "
        f"jd2={quoteattr(jd2)} name={quoteattr(name)} target_coords={quoteattr(coords)}"
        f"{(' ' + extra) if extra else ''}>\n"
        f'    <album detector={quoteattr(detector)} name="alb">\n      {plans}\n'
        f"    </album>\n  </sequence>\n"
    )


def request_xml(
    sequences: list[str] | str,
    *,
    target_type: str = "test",
    relative: str = "1",
    program: str = "GRB",
    name: str = "test request",
    root: str = "request",
) -> str:
    body = sequences if isinstance(sequences, str) else "".join(sequences)
    return (
        f'<?xml version="1.0" ?>\n<{root} submitted="1" relative={quoteattr(relative)} '
        f"name={quoteattr(name)} scientific_program={quoteattr(program)} "
        f"target_type={quoteattr(target_type)}>\n{body}</{root}>\n"
    )


def many_sequences_xml(count: int, *, sidereal: bool = True) -> str:
    """A request of ``count`` sidereal sequences spread over the sky (deterministic)."""
    sequences = []
    for i in range(count):
        ra = (i * 137.508) % 360.0
        dec = -30.0 + (i * 47.0) % 100.0
        coords = f"{ra:.4f} {dec:.4f}" if sidereal else "10"
        plans = plan_xml("r", "30", "2", "r") + plan_xml("g", "30", "2", "g")
        sequences.append(
            sequence_xml(
                f"seq{i:05d}", coords=coords, plans=plans, jd1=str(60 + i), jd2=str(60 + i + 36000)
            )
        )
    return request_xml(sequences, target_type="sidereal" if sidereal else "test")
