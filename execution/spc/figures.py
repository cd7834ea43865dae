"""A computed SPC figure, or the reason it has none; shared by every module of the package."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A computed figure, or the reason it has no value."""

    value: float | None = None
    missing: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class NoChart:
    """A chart that cannot be computed, and why (the chart results have `known` True)."""

    missing: str

    @property
    def known(self) -> bool:
        return False


def too_few(needed: int, have: int) -> Figure:
    return Figure(missing=f"too few values (n = {have} < {needed})")
