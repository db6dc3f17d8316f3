"""The experiment winner rule (docs/experiments.md explains the reasoning).

Each variant's figures are the sums over its posts of each post's latest counters.
Engagement rate = (likes + comments + shares) / views, capped at 1.

A winner is declared only when
1. every variant has at least `min_views` views, and
2. the variant with the highest engagement rate beats EVERY other variant in a one-sided
   two-proportion z-test at level alpha = (1 - confidence) / (k - 1) (Bonferroni over the
   k - 1 comparisons; confidence 0.95 by default).
Otherwise there is no winner yet; after the experiment's end time it ends `inconclusive`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class VariantFigures:
    variant_id: str
    label: str
    views: int
    likes: int = 0
    comments: int = 0
    shares: int = 0

    @property
    def engagements(self) -> int:
        return min(self.views, self.likes + self.comments + self.shares)

    @property
    def rate(self) -> float:
        return self.engagements / self.views if self.views else 0.0


@dataclass
class Decision:
    winner: str | None  # variant id
    reason: str
    alpha: float
    comparisons: list[dict[str, float | str]] = field(default_factory=list)
    figures: list[dict[str, float | int | str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "winner_variant_id": self.winner,
            "reason": self.reason,
            "alpha": self.alpha,
            "comparisons": self.comparisons,
            "figures": self.figures,
        }


def one_sided_p(leader: VariantFigures, other: VariantFigures) -> tuple[float, float]:
    """(z, p) of H1: leader's rate > other's rate (pooled two-proportion z-test)."""
    n1, n2 = leader.views, other.views
    pooled = (leader.engagements + other.engagements) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (leader.rate - other.rate) / se
    return z, 0.5 * math.erfc(z / math.sqrt(2))


def decide(variants: Sequence[VariantFigures], *, min_views: int, confidence: float) -> Decision:
    k = len(variants)
    alpha = (1 - confidence) / max(1, k - 1)
    figures: list[dict[str, float | int | str]] = [
        {
            "variant_id": v.variant_id,
            "label": v.label,
            "views": v.views,
            "engagements": v.engagements,
            "engagement_rate": round(v.rate, 6),
        }
        for v in variants
    ]
    if k < 2:
        return Decision(None, "an experiment needs at least two variants", alpha, figures=figures)
    short = [v.label for v in variants if v.views < min_views]
    if short:
        return Decision(None, f"below {min_views} views: {', '.join(short)}", alpha, figures=figures)
    ordered = sorted(variants, key=lambda v: v.rate, reverse=True)
    leader = ordered[0]
    comparisons: list[dict[str, float | str]] = []
    losing = []
    for other in ordered[1:]:
        z, p = one_sided_p(leader, other)
        comparisons.append({"against": other.label, "z": round(z, 4), "p_value": p})
        if p >= alpha:
            losing.append(other.label)
    if losing:
        return Decision(
            None,
            f"{leader.label} leads but is not significantly better than {', '.join(losing)} (alpha {alpha:.4f})",
            alpha,
            comparisons,
            figures,
        )
    return Decision(
        leader.variant_id,
        f"{leader.label} has the highest engagement rate and beats every other variant at alpha {alpha:.4f}",
        alpha,
        comparisons,
        figures,
    )
