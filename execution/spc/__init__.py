"""Statistical process control arithmetic: pure functions, no database and no Django.

Values come in collection order (oldest first); spc_window.py reads them and
spc_chart.py draws them. Each module has one role:

- constants.py: control chart factors A₂ … D₄ for subgroups of 2–25 (Montgomery, table VI)
- individuals.py: I-MR limits, moving ranges beyond their limit
- subgroups.py: grouping values, X̄-R and X̄-S limits, their rule checks
- attributes.py: p, np, c and u charts
- pareto.py: Pareto table of defect codes
- capability.py: Cp/Cpk/Pp/Ppk, Cpm, PPM, histogram and normal curve, warnings
- rules.py: Nelson's rules 1–8, each switchable
- analysis.py: one window of individual values analysed

The tests (tests/execution/test_spc.py, tests/execution/spc/) check the figures
against published worked examples; docs/quality.md states the definitions. Where a figure cannot be
computed it is a `Figure` (or a `NoChart`) carrying the reason, never a number.
The names other modules import from `execution.spc` are re-exported here.
"""

from execution.spc.analysis import Analysis, analyse
from execution.spc.attributes import AttributeChart, c_chart, np_chart, p_chart, u_chart
from execution.spc.capability import (
    CAPABILITY_MINIMUM,
    Capability,
    Histogram,
    Ppm,
    capability,
    capability_indexes,
    capability_warnings,
    cpm,
    expected_ppm,
    histogram,
    normal_curve,
    observed_ppm,
)
from execution.spc.constants import CONSTANTS, SUBGROUP_SIZES, ChartConstants, chart_constants
from execution.spc.figures import Figure, NoChart, too_few
from execution.spc.individuals import (
    D2,
    D4,
    LIMITS_MINIMUM,
    ImrLimits,
    frozen_limits,
    imr_limits,
    moving_ranges,
    moving_ranges_beyond_limit,
)
from execution.spc.pareto import ParetoRow, pareto
from execution.spc.rules import (
    ALL_RULES,
    DEFAULT_RULES,
    RULE_DESCRIPTIONS,
    NelsonRule,
    Violation,
    beyond_limits,
    nelson_violations,
)
from execution.spc.subgroups import (
    SubgroupChart,
    SubgroupViolations,
    standard_chart,
    subgroup_violations,
    subgroups_by_key,
    subgroups_of,
    time_slot,
    xbar_r_chart,
    xbar_s_chart,
)

__all__ = [
    "ALL_RULES",
    "CAPABILITY_MINIMUM",
    "CONSTANTS",
    "D2",
    "D4",
    "DEFAULT_RULES",
    "LIMITS_MINIMUM",
    "RULE_DESCRIPTIONS",
    "SUBGROUP_SIZES",
    "Analysis",
    "AttributeChart",
    "Capability",
    "ChartConstants",
    "Figure",
    "Histogram",
    "ImrLimits",
    "NelsonRule",
    "NoChart",
    "ParetoRow",
    "Ppm",
    "SubgroupChart",
    "SubgroupViolations",
    "Violation",
    "analyse",
    "beyond_limits",
    "c_chart",
    "capability",
    "capability_indexes",
    "capability_warnings",
    "chart_constants",
    "cpm",
    "expected_ppm",
    "histogram",
    "frozen_limits",
    "imr_limits",
    "moving_ranges",
    "moving_ranges_beyond_limit",
    "nelson_violations",
    "normal_curve",
    "np_chart",
    "observed_ppm",
    "p_chart",
    "pareto",
    "subgroup_violations",
    "subgroups_by_key",
    "subgroups_of",
    "standard_chart",
    "time_slot",
    "too_few",
    "u_chart",
    "xbar_r_chart",
    "xbar_s_chart",
]
