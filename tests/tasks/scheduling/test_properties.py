"""Property tests of the planner (hypothesis) on generated problems without astronomy.

For any problem: no overlaps; every planned sequence starts inside one of its feasible start
intervals (its window, its observability and the night); the executing sequence stays where it
is; no left-out sequence could have used time held by lower priorities; the same input gives the
same schedule, whatever the order of the input. The same holds after inserting an alert at the
head or one more sequence incrementally. Observability itself is checked against the sky in
test_plan_night.py.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.scheduling.improve import insert_at_head, insert_one
from tasks.scheduling.planner import plan
from tests.tasks.scheduling.checks import (
    assert_no_priority_inversion,
    assert_valid,
    make_problem,
    signature,
)

END = 20_000.0


@st.composite
def items(draw, first_id: int = 1, max_items: int = 30) -> list[dict]:
    count = draw(st.integers(1, max_items))
    result = []
    for offset in range(count):
        duration = draw(st.floats(60.0, 3000.0))
        stretches = []
        cursor = 0.0
        for _ in range(draw(st.integers(1, 3))):
            start = cursor + draw(st.floats(0.0, 6000.0))
            length = draw(st.floats(duration, duration + 8000.0))
            if start + length > END:
                break
            stretches.append((start, start + length - duration))
            cursor = start + length + 1.0
        preferred = draw(st.one_of(st.none(), st.floats(0.0, END)))
        result.append(
            {
                "id": first_id + offset,
                "priority": draw(st.integers(1, 5)),
                "duration": duration,
                "feasible": stretches,
                "preferred": preferred,
                "reason": "" if stretches else "never-high-enough: generated",
            }
        )
    return result


executing = st.one_of(st.none(), st.floats(60.0, 2000.0))
common = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def with_executing(specs: list[dict], length: float | None) -> list[dict]:
    if length is None:
        return specs
    return [*specs, {"id": 999_999, "priority": 1, "duration": length, "fixed": (0.0, length)}]


@common
@given(items(), executing)
def test_any_plan_is_valid_and_respects_priorities(specs, running):
    result = plan(make_problem(with_executing(specs, running), end=END))
    assert_valid(result)
    assert_no_priority_inversion(result)


@common
@given(items(), executing, st.randoms(use_true_random=False))
def test_same_input_same_schedule_in_any_order(specs, running, rng):
    first = signature(plan(make_problem(with_executing(specs, running), end=END)))
    shuffled = list(specs)
    rng.shuffle(shuffled)
    assert signature(plan(make_problem(with_executing(shuffled, running), end=END))) == first


@common
@given(items(max_items=25), executing, items(first_id=500, max_items=1))
def test_an_alert_inserted_at_the_head_keeps_the_plan_valid(specs, running, alert_specs):
    (alert,) = alert_specs
    problem = make_problem(with_executing(specs, running), end=END)
    result = plan(problem)
    before = {problem.ids[i]: (s, e) for i, s, e in result.timeline if i in problem.fixed}
    index = problem.add(
        alert["id"], 100, alert["duration"], feasible=alert["feasible"], reason=alert["reason"]
    )
    inserted = insert_at_head(result, index)
    assert_valid(result)
    assert {problem.ids[i]: (s, e) for i, s, e in result.timeline if i in problem.fixed} == before
    assert inserted == (index in result.timeline)
    if inserted:
        # As early as its observability allows, once clear of the executing sequence.
        start = next(s for i, s, _ in result.timeline if i == index)
        clear = max((e for i, _, e in result.timeline if i in problem.fixed), default=0.0)
        earliest = min(
            max(a, clear) for a, b in alert["feasible"] if max(a, clear) <= min(b, END) + 1e-6
        )
        assert abs(start - earliest) < 1e-6


@common
@given(items(max_items=25), items(first_id=500, max_items=1))
def test_one_more_sequence_inserted_incrementally_keeps_the_plan_valid(specs, more):
    (new,) = more
    problem = make_problem(specs, end=END)
    result = plan(problem)
    index = problem.add(
        new["id"], new["priority"], new["duration"], feasible=new["feasible"], reason=new["reason"]
    )
    insert_one(result, index)
    assert_valid(result)


@common
@given(items(), st.randoms(use_true_random=False))
def test_a_night_built_one_arrival_at_a_time_then_improved_respects_priorities(specs, rng):
    """Sequences arriving in any order (lowest priorities first included) and inserted one by
    one; the improvement pass then leaves no priority inversion."""
    from tasks.scheduling.draft import new_draft
    from tasks.scheduling.improve import improve_plan

    arrivals = list(specs)
    rng.shuffle(arrivals)
    problem = make_problem([], end=END)
    result = new_draft(problem)
    for spec in arrivals:
        index = problem.add(
            spec["id"],
            spec["priority"],
            spec["duration"],
            feasible=spec["feasible"],
            preferred=spec["preferred"],
            reason=spec["reason"],
        )
        insert_one(result, index)
        assert_valid(result)
    improve_plan(result)
    assert_valid(result)
    assert_no_priority_inversion(result)


def test_a_second_alert_goes_first_and_slides_the_first_one_right():
    problem = make_problem(
        [{"id": 1, "priority": 1, "duration": 500, "feasible": [(0, 5000)]}], end=END
    )
    result = plan(problem)
    first = problem.add(100, 100, 300, feasible=[(0, 3000)])
    second = problem.add(101, 100, 200, feasible=[(0, 3000)])
    assert insert_at_head(result, first)
    assert insert_at_head(result, second)
    assert_valid(result)
    spans = {problem.ids[i]: (s, e) for i, s, e in result.timeline}
    assert spans == {101: (0, 200), 100: (200, 500), 1: (500, 1000)}
