"""Runs a benchmark's sections one after the other so that none can take the others down.

Each section ends in one of three states, printed when it ends and listed in the summary:

- done;
- skipped, with the reason: what it needs is missing or misconfigured here (its `check`
  returned the reason, or it raised `Skipped`), or a section it needs did not finish;
- failed, with the error's type and message (its traceback goes to stderr).

After a section, the next one runs whatever the state, and the results so far are written
to the JSON file, so a later failure cannot lose them. `exit_code()` is 1 when a section
failed (a skipped section is not a failure). Sections print each figure the moment it is
measured (`show`), and keep it in the results as they go.
"""

import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

DONE, SKIPPED, FAILED = "done", "skipped", "failed"


class Skipped(Exception):  # noqa: N818 (a state, not an error)
    """Raised by a section that finds, once started, that it cannot run here."""


@dataclass
class Outcome:
    state: str
    reason: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{self.state}: {self.reason}" if self.reason else self.state


def show(figure: dict, label: str = "") -> dict:
    """Print a figure the moment it is measured (its scalars and small maps), flushed."""
    shown = " ".join(
        f"{key}={value}" for key, value in figure.items() if not isinstance(value, list)
    )
    print(f"  → {label + ': ' if label else ''}{shown}", flush=True)
    return figure


class Sections:
    """The sections of one run, their outcomes, and the results they fill."""

    def __init__(self, results: dict, output: Path | None = None):
        self.results, self.output = results, output
        self.outcomes: dict[str, Outcome] = {}
        results.setdefault("sections", {})

    def run(self, name: str, measure, *, check=None, needs: tuple[str, ...] = ()):
        """Run `measure()` as section `name` unless a section in `needs` did not finish or
        `check()` gives a reason to skip; returns what `measure` returned, or None."""
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        value = None
        try:
            reason = self._unmet(needs) or (check() if check else None)
            if reason:
                raise Skipped(reason)
            value = measure()
        except Skipped as skipped:
            outcome = Outcome(SKIPPED, str(skipped))
        # SystemExit too: the bench's helpers exit with their reason (gunicorn not ready).
        except (Exception, SystemExit) as error:
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            outcome = Outcome(FAILED, f"{type(error).__name__}: {error}".strip())
        else:
            outcome = Outcome(DONE)
        outcome.seconds = round(time.perf_counter() - started, 1)
        self.outcomes[name] = outcome
        self.results["sections"][name] = {
            "state": outcome.state, "reason": outcome.reason, "seconds": outcome.seconds,
        }  # fmt: skip
        print(f"== {name}: {outcome} ({outcome.seconds} s)", flush=True)
        self.save()
        return value if outcome.state == DONE else None

    def done(self, name: str) -> bool:
        outcome = self.outcomes.get(name)
        return outcome is not None and outcome.state == DONE

    def _unmet(self, needs) -> str | None:
        for need in needs:
            if not self.done(need):
                outcome = self.outcomes.get(need)
                return f"needs {need}, which {'did not run' if outcome is None else outcome.state}"
        return None

    def save(self) -> None:
        """Write the results so far (figures, sections' states) to the JSON file."""
        if self.output is None:
            return
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.output.write_text(json.dumps(self.results, indent=2, default=str))

    def summary(self) -> str:
        """Every section's state, one a line."""
        width = max((len(name) for name in self.outcomes), default=0)
        return "\n".join(
            [f"sections ({len(self.outcomes)}):"]
            + [f"  {name:<{width}}  {outcome}" for name, outcome in self.outcomes.items()]
        )

    def exit_code(self) -> int:
        return 1 if any(o.state == FAILED for o in self.outcomes.values()) else 0
