"""Maturity: a version must have existed for a minimum age before it is promoted.

The age comes from the registry's timestamp (ACR's listing, or the image config's
`created`) or the model card's `created`. A version whose time is unknown is never
assumed mature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.durations import format_duration
from bot.policies.candidate import Candidate


@dataclass(frozen=True)
class MinAge:
    age: timedelta

    def failure(self, candidate: Candidate, now: datetime) -> str | None:
        if candidate.created is None:
            return "its build time is unknown, so its age cannot be checked"
        age = now - candidate.created
        if age < self.age:
            return f"too new: {format_duration(age)} old, needs {format_duration(self.age)}"
        return None
