"""Quality-vs-compute curves: the compute-savings factor and the crossover (diffbench.metrics.curves).

Curves linear in log compute are read exactly by the interpolation, so their answers are known in
closed form; benchmarks/savings_truth.py checks the intervals' coverage on noisy curves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from diffbench.metrics.curves import Curve, compute_to_reach, crossover, monotone, savings, savings_over_seeds

COMPUTE = 2.0 ** np.arange(5)  # 1, 2, 4, 8, 16
GROUPS = 6
# leave-one-group-out perturbations, zero mean: replicates scatter around each value by <= 1e-3
WOBBLE = 1e-3 * np.sin(np.arange(GROUPS) * 1.7)[None, :]


def curve(quality, compute=COMPUTE, wobble=WOBBLE) -> Curve:
    quality = np.asarray(quality, np.float64)
    return Curve.of(compute, quality, quality[:, None] + wobble)


def test_compute_to_reach_reads_linearly_in_log_compute():
    quality = np.array([5.0, 4.0, 3.0, 2.0, 1.0])  # one unit per doubling
    assert compute_to_reach(COMPUTE, quality, 2.5) == (pytest.approx(2.0**2.5), "reached")
    assert compute_to_reach(COMPUTE, quality, 1.0) == (pytest.approx(16.0), "reached")
    assert compute_to_reach(COMPUTE, quality, 6.0) == (1.0, "before")
    compute, state = compute_to_reach(COMPUTE, quality, 0.5)
    assert math.isnan(compute) and state == "beyond"


def test_a_noisy_dip_does_not_decide_where_a_curve_first_reaches_a_quality():
    """A dip at milestone 1 below the target, then back up: raw interpolation would say 'reached at
    2'; the monotone fit pools the dip with its neighbour."""
    quality = np.array([5.0, 2.0, 4.0, 2.0, 1.0])
    np.testing.assert_allclose(monotone(quality), [5.0, 3.0, 3.0, 2.0, 1.0])
    assert compute_to_reach(COMPUTE, quality, 2.5)[0] == pytest.approx(2.0**2.5)


def test_savings_of_a_curve_shifted_in_compute_is_the_shift():
    """b at compute C is a at 4C: b reaches a's final quality (at 16) with 4x less compute."""
    a = curve(-np.log2(COMPUTE))
    b = curve(-np.log2(4 * COMPUTE), wobble=-WOBBLE)  # opposite replicate noise: the factor varies
    found = savings(a, b, 0.95)
    assert found.state == "reached"
    assert (found.target, found.compute_a, found.compute_b) == pytest.approx((-4.0, 16.0, 4.0))
    assert found.factor == pytest.approx(4.0)
    assert found.interval.low < 4.0 < found.interval.high
    assert found.interval.high / found.interval.low < 1.05  # replicates move by 1e-3 of a unit per doubling
    # at a target of a's choosing: a reaches -2 at 4, b at 1
    assert savings(a, b, 0.95, target=-2.0).factor == pytest.approx(4.0)
    # the other way round b is where a is going: a needs 4x more, and b's final quality lies beyond a
    reverse = savings(b, a, 0.95)
    assert reverse.state == "beyond" and reverse.interval is None
    assert reverse.factor == pytest.approx(1.0)  # an upper bound: a needs more than its 16 to reach b's 64
    assert reverse.gap.estimate == pytest.approx(2.0) and reverse.bound_holds  # a ends 2 units short, surely


def test_savings_of_a_curve_already_there_at_its_first_milestone_is_a_lower_bound():
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    b = curve([0.9, 0.8, 0.7, 0.6, 0.5])
    found = savings(a, b, 0.95)
    assert found.state == "before" and found.interval is None
    assert found.factor == pytest.approx(16.0)  # at least a's 16 over b's first 1
    assert found.gap.estimate == pytest.approx(-0.1) and found.bound_holds


def test_a_bound_within_the_noise_does_not_hold():
    """b ends 1e-4 above a's final quality, with replicates that move by 1e-3: 'beyond' on the
    estimates, but the gap's interval holds 0."""
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    b = curve([5.0, 4.0, 3.0, 2.0, 1.0 + 1e-4], wobble=-WOBBLE)
    found = savings(a, b, 0.95)
    assert found.state == "beyond" and found.gap.low < 0 < found.gap.high and not found.bound_holds


def test_identical_curves_save_nothing_and_the_data_cannot_tell_whether_they_cross():
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    assert savings(a, a, 0.95).factor == pytest.approx(1.0)
    assert crossover(a, a, 0.95).state == "cannot tell"


def test_a_significant_sign_change_is_a_crossing_located_with_an_interval():
    """b - a goes from -1 to +1 linearly in log compute: they cross at 2^2 = 4."""
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    b = curve([4.0, 3.5, 3.0, 2.5, 2.0], wobble=-WOBBLE)  # opposite replicate noise: b - a varies
    found = crossover(a, b, 0.95)
    assert (found.state, found.low, found.high) == ("crosses", 1.0, 16.0)
    assert found.compute == pytest.approx(4.0)
    assert found.interval.low < 4.0 < found.interval.high and found.interval.high / found.interval.low < 1.05


def test_a_curve_below_the_other_throughout_is_said_to_be_below():
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    b = curve([4.0, 3.0, 2.0, 1.0, 0.5])
    assert crossover(a, b, 0.95).state == "below"
    assert crossover(b, a, 0.95).state == "above"


def test_a_difference_that_fades_into_noise_is_not_called_below():
    """b is below a except at the last point, where the difference is within its noise."""
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    b = curve([4.0, 3.0, 2.0, 1.0, 1.0 - 1e-4], wobble=-WOBBLE)
    assert crossover(a, b, 0.95).state == "cannot tell"


def test_the_crossover_is_read_over_the_range_both_curves_were_measured():
    """A latent model's first milestone comes after its autoencoder: only the common range counts."""
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    b = curve([3.4, 2.9, 2.4, 1.9, 1.4], compute=COMPUTE * 2)  # 2 .. 32
    found = crossover(a, b, 0.95)
    assert (found.low, found.high) == (2.0, 16.0)
    # b - a at 2: 3.4 - 4 = -0.6; at 16: 1.9 - 1 = +0.9; linear in log2 C between: zero at 2^(1 + 0.6 / 0.5)
    assert found.state == "crosses" and found.compute == pytest.approx(2 ** (1 + 0.6 / 0.5))


def test_savings_over_seeds_pools_the_seeds_log_factors():
    a = curve(-np.log2(COMPUTE))
    pairs = [(a, curve(-np.log2(k * COMPUTE), wobble=-WOBBLE)) for k in (2.0, 8.0)]
    pooled = savings_over_seeds(pairs, 0.95)
    assert pooled.estimate == pytest.approx(4.0)  # the geometric mean of 2 and 8
    assert pooled.low < 2.0 and pooled.high > 8.0  # two seeds this far apart leave a wide interval
    # a seed whose b ends exactly at a's final quality: where a replicate lowers a's end, b falls beyond it
    level_with_a = curve(a.quality, wobble=-WOBBLE)
    assert savings(a, level_with_a, 0.95).factor == pytest.approx(1.0)
    assert savings_over_seeds([(a, level_with_a), pairs[0]], 0.95) is None


@pytest.mark.parametrize(
    ("compute", "quality", "replicates", "message"),
    [
        ([1.0], [1.0], [[1.0, 1.0]], ">= 2 milestones"),
        ([2.0, 1.0], [1.0, 0.5], [[1.0, 1.0], [0.5, 0.5]], "positive and increasing"),
        ([1.0, 2.0], [1.0, 0.5], [[1.0], [0.5]], "groups >= 2"),
    ],
)
def test_a_malformed_curve_is_refused(compute, quality, replicates, message):
    with pytest.raises(ValueError, match=message):
        Curve.of(compute, quality, replicates)


def test_curves_with_different_groups_are_not_compared():
    a = curve([2.0, 1.0, 0.5, 0.4, 0.3])
    b = Curve.of(COMPUTE, a.quality, np.repeat(a.quality[:, None], 3, axis=1))
    with pytest.raises(ValueError, match="share their image groups"):
        savings(a, b, 0.95)


def test_a_target_outside_the_first_curves_range_is_refused():
    a = curve([5.0, 4.0, 3.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="outside the first curve's measured range"):
        savings(a, a, 0.95, target=0.5)
