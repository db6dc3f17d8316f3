"""Retry policies, Temporal style: exponential backoff with a cap, jitter and a limit."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval: float = 60.0
    max_attempts: int = 5  # total attempts, the first included; 0 means unlimited
    non_retryable: tuple[str, ...] = field(default_factory=tuple)  # error class names
    jitter: float = 0.1  # +/- fraction of the delay

    def __post_init__(self) -> None:
        if self.initial_interval < 0 or self.max_interval < 0:
            raise ValueError("intervals must be >= 0")
        if self.backoff_coefficient < 1:
            raise ValueError("backoff_coefficient must be >= 1")
        if self.max_attempts < 0:
            raise ValueError("max_attempts must be >= 0")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def base_delay(self, attempt: int) -> float:
        """Delay before attempt `attempt + 1`, after `attempt` failures (attempt >= 1), no jitter."""
        delay = self.initial_interval * self.backoff_coefficient ** max(attempt - 1, 0)
        return min(delay, self.max_interval)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base = self.base_delay(attempt)
        if not self.jitter or base == 0:
            return base
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))

    def allows_another(self, attempt: int) -> bool:
        """True when a run that has made `attempt` attempts may try again."""
        return self.max_attempts == 0 or attempt < self.max_attempts

    def is_retryable(self, error_type: str) -> bool:
        return error_type not in self.non_retryable


DEFAULT_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)
