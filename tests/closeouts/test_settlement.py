"""The pro-rata arithmetic (M-13): integer parts that always sum exactly to the total."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.closeouts.settlement import LineBasis, line_terms, plan, split_exact

amounts = st.integers(min_value=0, max_value=10**12)
weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12)
bases = st.sampled_from(list(LineBasis))
percents = st.integers(min_value=0, max_value=100)
lines = st.lists(st.tuples(st.integers(min_value=0, max_value=10**9), bases), max_size=10)
escrow = st.lists(st.integers(min_value=0, max_value=10**9), max_size=6).map(
    lambda values: {n + 1: v for n, v in enumerate(values)}
)


@given(total=amounts, weights=weights)
def test_split_exact_parts_are_non_negative_integers_summing_to_the_total(total, weights):
    if sum(weights) == 0:
        if total:
            with pytest.raises(ValueError):
                split_exact(total, weights)
            return
        assert split_exact(total, weights) == [0] * len(weights)
        return
    parts = split_exact(total, weights)
    assert len(parts) == len(weights)
    assert all(isinstance(p, int) and p >= 0 for p in parts)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        # each part is its exact share rounded down or up, and a zero weight gets nothing
        assert total * weight // whole <= part <= -(-total * weight // whole)
        if weight == 0:
            assert part == 0
    assert split_exact(total, weights) == parts  # deterministic


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (1, [1, 1, 1], [1, 0, 0]),  # ties go to the earlier weight
        (3, [1, 1, 1], [1, 1, 1]),
        (10001, [1, 1, 1], [3334, 3334, 3333]),
        (100, [1, 2], [33, 67]),
        (0, [0, 0], [0, 0]),
        (7, [0, 5], [0, 7]),
    ],
)
def test_split_exact_on_awkward_amounts(total, weights, expected):
    assert split_exact(total, weights) == expected


@given(price=st.integers(min_value=0, max_value=10**12), basis=bases, kill=percents)
def test_a_line_shares_out_its_whole_price_or_nothing_when_excused(price, basis, kill):
    to_creator, to_brand = line_terms(price, basis, kill)
    assert to_creator >= 0 and to_brand >= 0
    if basis is LineBasis.excused:
        assert (to_creator, to_brand) == (0, 0)
    else:
        assert to_creator + to_brand == price
    if basis is LineBasis.in_progress:
        assert abs(to_creator * 100 - price * kill) <= 100  # the kill fee, to a minor unit


def test_line_terms_by_basis():
    assert line_terms(25000, LineBasis.approved, 25) == (25000, 0)
    assert line_terms(25000, LineBasis.in_progress, 25) == (6250, 18750)
    assert line_terms(3, LineBasis.in_progress, 50) == (2, 1)
    assert line_terms(25000, LineBasis.not_started, 25) == (0, 25000)
    assert line_terms(25000, LineBasis.excused, 25) == (0, 0)
    with pytest.raises(ValueError):
        line_terms(100, LineBasis.approved, 101)


@given(lines=lines, kill=percents, released=st.integers(0, 10**9), escrow=escrow)
def test_a_plan_moves_exactly_what_escrow_holds_and_owes_the_rest(lines, kill, released, escrow):
    found = plan(lines, kill, released, escrow)
    assert found.creator_total == sum(c for c, _ in found.parts)
    assert found.brand_total == sum(b for _, b in found.parts)
    # every milestone's escrow is released or refunded, to the unit, and nothing more
    for milestone_id, held in escrow.items():
        moved = found.releases.get(milestone_id, 0) + found.refunds.get(milestone_id, 0)
        assert moved == held
    assert set(found.releases) | set(found.refunds) <= set(escrow)
    assert all(v > 0 for v in (*found.releases.values(), *found.refunds.values()))
    assert found.release_total + found.refund_total == found.held == sum(escrow.values())
    owed = max(found.creator_total - released, 0)
    assert found.release_total == min(owed, found.held)
    assert found.shortfall == owed - found.release_total >= 0
    assert found.overpaid == max(released - found.creator_total, 0)
    # the creator ends with what the lines pay, unless escrow is short or paid beyond them
    assert released + found.release_total + found.shortfall == max(found.creator_total, released)


def test_a_plan_draws_on_milestones_in_order():
    found = plan(
        [(100000, LineBasis.approved), (25000, LineBasis.in_progress)],
        25,
        0,
        {7: 50000, 9: 100000},
    )
    assert found.creator_total == 106250 and found.brand_total == 18750
    assert found.releases == {7: 50000, 9: 56250}
    assert found.refunds == {9: 43750}
    assert found.shortfall == 0


def test_a_plan_names_the_shortfall_when_escrow_holds_too_little():
    found = plan([(100000, LineBasis.approved)], 0, 20000, {3: 50000})
    assert found.releases == {3: 50000} and found.refunds == {}
    assert found.shortfall == 30000
