"""Input validation names the offending field, mirroring the database constraints."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from matching.schemas import OpeningFields, ParticipantProfile, PlacementFields


def _fields_in_error(model: Any, **values: Any) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model(**values)
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("model", "values", "field"),
    [
        (ParticipantProfile, {"hours_min": 30, "hours_max": 20}, "hours_max"),
        (ParticipantProfile, {"home_lat": 59.2}, "home_lon"),
        (ParticipantProfile, {"home_lat": 95.0, "home_lon": 17.0}, "home_lat"),
        (ParticipantProfile, {"max_commute_km": -3}, "max_commute_km"),
        (ParticipantProfile, {"goal": "readiness"}, "goal"),
        (ParticipantProfile, {"accommodations": ["diagnosis"]}, "accommodations.0"),
        (
            ParticipantProfile,
            {"languages": [{"language": "svenska", "level": "x"}]},
            "languages.0.level",
        ),
        (ParticipantProfile, {"personnummer": "19900101-1234"}, "personnummer"),
        (ParticipantProfile, {"skills_text": "x" * 5001}, "skills_text"),
        (OpeningFields, {"title": "", "lat": 59.0, "lon": 18.0}, "title"),
        (
            OpeningFields,
            {"title": "Lager", "positions": 1, "positions_filled": 2},
            "positions_filled",
        ),
        (OpeningFields, {"title": "Lager", "hours_max": 0}, "hours_max"),
        (OpeningFields, {"title": "Lager", "ssyk_code": "43A1"}, "ssyk_code"),
        (OpeningFields, {"title": "Lager", "lon": 18.0}, "lon"),
        (PlacementFields, {"title": "Café", "capacity": 2, "taken": 3}, "taken"),
        (PlacementFields, {"title": "Café", "duration_weeks": 0}, "duration_weeks"),
    ],
)
def test_invalid_input_names_the_field(model: Any, values: dict[str, Any], field: str) -> None:
    assert field in _fields_in_error(model, **values)


def test_valid_profile_is_accepted_and_normalised() -> None:
    profile = ParticipantProfile(
        municipality=" Södertälje ",
        home_lat=59.19,
        home_lon=17.62,
        hours_min=10,
        hours_max=20,
        accommodations=["quiet_workplace"],
        languages=[{"language": "arabiska", "level": "native"}],
    )
    assert profile.municipality == "Södertälje"
    assert profile.accommodations[0].value == "quiet_workplace"
