"""PERT finish-date forecast from weekly rates (DESIGN §6). Pure functions: no database."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass

CONTINGENCY = 0.20  # programme rule: every forecast carries 20 % contingency
MIN_WEEKS_OF_ACTIVITY = 4  # fewer weeks than this: the planned rates stand in


@dataclass(frozen=True)
class Forecast:
    remaining: int
    expected_weeks: float  # (a + 4m + b) / 6 with contingency
    spread_weeks: float  # (b − a) / 6
    finish: dt.date
    earliest: dt.date
    latest: dt.date
    basis: str  # "recent weekly rates" | "planned rates"
    rates: tuple[float, float, float]  # optimistic, most likely, pessimistic (specimens a week)


def pert_rates(weekly: list[int]) -> tuple[float, float, float] | None:
    """Optimistic, most likely and pessimistic weekly rates from recent weeks (zero weeks included)."""
    if len([w for w in weekly if w > 0]) < MIN_WEEKS_OF_ACTIVITY:
        return None
    ordered = sorted(weekly)
    best = float(ordered[-1])
    likely = float(statistics.median(ordered))
    # The slowest week with any work: a holiday week of 0 would make the pessimistic finish infinite.
    worst = float(next(w for w in ordered if w > 0))
    return best, max(likely, worst), worst


def pert_forecast(*, remaining: int, today: dt.date, weekly: list[int],
                  planned: tuple[int | None, int | None, int | None] | None = None) -> Forecast | None:
    """Finish date: durations at the three rates, PERT-weighted, plus 20 % contingency; None if unknowable."""
    rates, basis = pert_rates(weekly), "recent weekly rates"
    if rates is None and planned and all(planned) and min(planned) > 0:
        rates, basis = (float(planned[0]), float(planned[1]), float(planned[2])), "planned rates"
    if rates is None:
        return None
    remaining = max(0, remaining)
    optimistic, likely, pessimistic = (remaining / r for r in rates)  # weeks at each rate
    expected = (optimistic + 4 * likely + pessimistic) / 6 * (1 + CONTINGENCY)
    spread = (pessimistic - optimistic) / 6

    def weeks_on(weeks: float) -> dt.date:
        return today + dt.timedelta(days=math.ceil(max(0.0, weeks) * 7))

    return Forecast(
        remaining=remaining, expected_weeks=expected, spread_weeks=spread, finish=weeks_on(expected),
        earliest=weeks_on(expected - spread), latest=weeks_on(expected + spread), basis=basis, rates=rates,
    )
