"""The fault-injection hook: only named points, never in production, inert unless armed."""

from __future__ import annotations

import pytest

from matching import crashpoints
from matching.errors import ConfigurationError
from matching.settings import Environment, Settings


def test_production_refuses_a_crash_point() -> None:
    with pytest.raises(ConfigurationError, match="STEGVIS_CRASH_AT"):
        Settings(
            environment=Environment.PRODUCTION,
            secret_key="a-real-secret-of-more-than-32-characters",
            crash_at="index.renamed",
        )


@pytest.mark.parametrize("spec", ["index.nowhere", "index.renamed:0", "index.renamed:x"])
def test_only_known_points_with_a_positive_count_can_be_armed(spec: str) -> None:
    with pytest.raises(ValueError, match="crash point"):
        crashpoints.arm(spec)


def test_an_unarmed_or_other_point_does_nothing() -> None:
    crashpoints.arm("index.renamed:2")
    try:
        crashpoints.crashpoint("index.renamed")  # the first time: not yet
        crashpoints.crashpoint("index.log.torn")  # another point
    finally:
        crashpoints.arm("")
    crashpoints.crashpoint("index.renamed")
