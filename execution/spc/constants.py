"""Control chart constants for subgroups of 2 to 25 values, as printed in the textbooks.

Montgomery, Introduction to Statistical Quality Control (6th ed., 2009), Appendix
Table VI "Factors for Constructing Variables Control Charts" (the same table in the
AIAG SPC manual and ASTM E2587). The printed, rounded values are kept rather than
recomputed so that limits agree with hand calculations from the books; the tests
check them against their definitions (c₄ from the gamma function, d₂ as the mean
range of n standard normal values) to within the last printed digit.
"""

from dataclasses import dataclass

SUBGROUP_SIZES = range(2, 26)


@dataclass(frozen=True)
class ChartConstants:
    """The factors for subgroups of `n` values (3σ limits)."""

    n: int
    A2: float  # X̄ limits from R̄: x̿ ± A₂R̄
    A3: float  # X̄ limits from s̄: x̿ ± A₃s̄
    c4: float  # E(s) = c₄σ
    B3: float  # s chart LCL = B₃s̄
    B4: float  # s chart UCL = B₄s̄
    d2: float  # E(R) = d₂σ
    d3: float  # σ(R) = d₃σ
    D3: float  # R chart LCL = D₃R̄
    D4: float  # R chart UCL = D₄R̄


# n: A2, A3, c4, B3, B4, d2, d3, D3, D4 (Montgomery, appendix table VI).
_TABLE = {
    2: (1.880, 2.659, 0.7979, 0.0, 3.267, 1.128, 0.853, 0.0, 3.267),
    3: (1.023, 1.954, 0.8862, 0.0, 2.568, 1.693, 0.888, 0.0, 2.574),
    4: (0.729, 1.628, 0.9213, 0.0, 2.266, 2.059, 0.880, 0.0, 2.282),
    5: (0.577, 1.427, 0.9400, 0.0, 2.089, 2.326, 0.864, 0.0, 2.114),
    6: (0.483, 1.287, 0.9515, 0.030, 1.970, 2.534, 0.848, 0.0, 2.004),
    7: (0.419, 1.182, 0.9594, 0.118, 1.882, 2.704, 0.833, 0.076, 1.924),
    8: (0.373, 1.099, 0.9650, 0.185, 1.815, 2.847, 0.820, 0.136, 1.864),
    9: (0.337, 1.032, 0.9693, 0.239, 1.761, 2.970, 0.808, 0.184, 1.816),
    10: (0.308, 0.975, 0.9727, 0.284, 1.716, 3.078, 0.797, 0.223, 1.777),
    11: (0.285, 0.927, 0.9754, 0.321, 1.679, 3.173, 0.787, 0.256, 1.744),
    12: (0.266, 0.886, 0.9776, 0.354, 1.646, 3.258, 0.778, 0.283, 1.717),
    13: (0.249, 0.850, 0.9794, 0.382, 1.618, 3.336, 0.770, 0.307, 1.693),
    14: (0.235, 0.817, 0.9810, 0.406, 1.594, 3.407, 0.763, 0.328, 1.672),
    15: (0.223, 0.789, 0.9823, 0.428, 1.572, 3.472, 0.756, 0.347, 1.653),
    16: (0.212, 0.763, 0.9835, 0.448, 1.552, 3.532, 0.750, 0.363, 1.637),
    17: (0.203, 0.739, 0.9845, 0.466, 1.534, 3.588, 0.744, 0.378, 1.622),
    18: (0.194, 0.718, 0.9854, 0.482, 1.518, 3.640, 0.739, 0.391, 1.608),
    19: (0.187, 0.698, 0.9862, 0.497, 1.503, 3.689, 0.734, 0.403, 1.597),
    20: (0.180, 0.680, 0.9869, 0.510, 1.490, 3.735, 0.729, 0.415, 1.585),
    21: (0.173, 0.663, 0.9876, 0.523, 1.477, 3.778, 0.724, 0.425, 1.575),
    22: (0.167, 0.647, 0.9882, 0.534, 1.466, 3.819, 0.720, 0.434, 1.566),
    23: (0.162, 0.633, 0.9887, 0.545, 1.455, 3.858, 0.716, 0.443, 1.557),
    24: (0.157, 0.619, 0.9892, 0.555, 1.445, 3.895, 0.712, 0.451, 1.548),
    25: (0.153, 0.606, 0.9896, 0.565, 1.435, 3.931, 0.708, 0.459, 1.541),
}

CONSTANTS = {n: ChartConstants(n, *factors) for n, factors in _TABLE.items()}


def chart_constants(n: int) -> ChartConstants:
    """The factors for subgroups of `n` values; ValueError outside 2–25 (the printed table)."""
    try:
        return CONSTANTS[n]
    except KeyError:
        raise ValueError(
            f"no control chart constants for subgroups of {n} "
            f"(the table covers {SUBGROUP_SIZES.start}–{SUBGROUP_SIZES.stop - 1})"
        ) from None
