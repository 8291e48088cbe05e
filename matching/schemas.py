"""Validated input shapes of the domain objects, shared by the API and the fixture loader.

The database enforces the same rules with CHECK constraints; validating here first lets
every entrypoint name the offending field instead of failing on a constraint name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from matching.domain import (
    MAX_HOURS_PER_WEEK,
    Accommodation,
    Gender,
    Goal,
    LanguageLevel,
    OpeningStatus,
    ParticipantStatus,
    PlacementStatus,
    WorkEnvironment,
)

MAX_TEXT = 5_000
MAX_TITLE = 200
MAX_LIST = 50


def _trimmed(value: str) -> str:
    return value.strip()


def _trimmed_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError(
            "string_too_short", "String should have at least 1 character", {"min_length": 1}
        )
    return value


#: No NUL character: PostgreSQL cannot store one in text, so no backend accepts it.
NO_NUL = r"^[^\x00]*$"
# Lengths are checked on the text as sent (what the OpenAPI document promises), then the
# surrounding whitespace is dropped; a name of only whitespace is as empty as "".
Trimmed = AfterValidator(_trimmed)
TrimmedNotBlank = AfterValidator(_trimmed_not_blank)
ShortText = Annotated[str, StringConstraints(max_length=MAX_TITLE, pattern=NO_NUL), Trimmed]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TITLE, pattern=NO_NUL), TrimmedNotBlank
]
LongText = Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=NO_NUL)]
Municipality = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL), TrimmedNotBlank
]
ConceptId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_]{1,16}$")]
SsykCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
Latitude = Annotated[StrictFloat, Field(ge=-90, le=90)]
Longitude = Annotated[StrictFloat, Field(ge=-180, le=180)]
Hours = Annotated[StrictInt, Field(ge=0, le=MAX_HOURS_PER_WEEK)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class LanguageSkill(Strict):
    language: Annotated[
        str, StringConstraints(min_length=1, max_length=40, pattern=NO_NUL), TrimmedNotBlank
    ]
    level: LanguageLevel


def _second_of_pair(first: str) -> Callable[[float | None, ValidationInfo], float | None]:
    """A validator for the second coordinate: both or neither must be given."""

    def check(value: float | None, info: ValidationInfo) -> float | None:
        if (info.data.get(first) is None) != (value is None):
            raise ValueError(f"{first} and {info.field_name} must be given together")
        return value

    return check


def _hours_max_after_min(value: int | None, info: ValidationInfo) -> int | None:
    if value == 0:
        raise ValueError("hours_max must be greater than 0")
    hours_min = info.data.get("hours_min")
    if value is not None and hours_min is not None and hours_min > value:
        raise ValueError("hours_max must not be less than hours_min")
    return value


class ParticipantProfile(Strict):
    """What a participant tells the coach about the work they want and what they bring.

    Deliberately no name, no personal identity number, no health information.
    """

    municipality: Municipality | None = None
    home_lat: Latitude | None = None
    home_lon: Longitude | None = None
    max_commute_km: Annotated[StrictFloat, Field(gt=0, le=500)] | None = None
    max_commute_minutes: Annotated[StrictInt, Field(gt=0, le=600)] | None = None
    preferred_occupations_text: LongText = ""
    preferred_tasks_text: LongText = ""
    preferred_occupation_ids: Annotated[list[ConceptId], Field(max_length=MAX_LIST)] = []
    hours_min: Hours | None = None
    hours_max: Hours | None = None
    no_evenings: StrictBool = False
    no_weekends: StrictBool = False
    no_nights: StrictBool = False
    environment_preferences: Annotated[list[WorkEnvironment], Field(max_length=MAX_LIST)] = []
    environment_text: LongText = ""
    skills_text: LongText = ""
    experience_text: LongText = ""
    education_text: LongText = ""
    languages: Annotated[list[LanguageSkill], Field(max_length=20)] = []
    interests_text: LongText = ""
    accommodations: Annotated[list[Accommodation], Field(max_length=MAX_LIST)] = []
    accommodations_text: LongText = ""
    goal: Goal = Goal.COMPETITIVE_JOB
    gender: Gender = Gender.UNDISCLOSED
    status: ParticipantStatus = ParticipantStatus.ACTIVE

    _pair = field_validator("home_lon")(_second_of_pair("home_lat"))
    _hours = field_validator("hours_max")(_hours_max_after_min)


class _WorkItem(Strict):
    """Fields openings and work-training places share."""

    title: Name
    occupation_id: ConceptId | None = None
    occupation_label: ShortText | None = None
    ssyk_code: SsykCode | None = None
    hours_min: Hours | None = None
    hours_max: Hours | None = None
    evenings: StrictBool = False
    weekends: StrictBool = False
    nights: StrictBool = False
    environment: Annotated[list[WorkEnvironment], Field(max_length=MAX_LIST)] = []
    municipality: Municipality | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    accommodations_offered: Annotated[list[Accommodation], Field(max_length=MAX_LIST)] = []

    _pair = field_validator("lon")(_second_of_pair("lat"))
    _hours = field_validator("hours_max")(_hours_max_after_min)


SkillLabel = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL), TrimmedNotBlank
]


class OpeningFields(_WorkItem):
    description: LongText = ""
    required_skills: Annotated[list[SkillLabel], Field(max_length=MAX_LIST)] = []
    nice_skills: Annotated[list[SkillLabel], Field(max_length=MAX_LIST)] = []
    positions: Annotated[StrictInt, Field(ge=1, le=1000)] = 1
    positions_filled: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    status: OpeningStatus = OpeningStatus.OPEN

    @field_validator("positions_filled")
    @classmethod
    def _filled_within_positions(cls, value: int, info: ValidationInfo) -> int:
        if value > info.data.get("positions", value):
            raise ValueError("positions_filled must not exceed positions")
        return value


class PlacementFields(_WorkItem):
    activities: LongText = ""
    skills: Annotated[list[SkillLabel], Field(max_length=MAX_LIST)] = []
    capacity: Annotated[StrictInt, Field(ge=1, le=1000)] = 1
    taken: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    supervision: LongText = ""
    duration_weeks: Annotated[StrictInt, Field(gt=0, le=156)] | None = None
    status: PlacementStatus = PlacementStatus.OPEN

    @field_validator("taken")
    @classmethod
    def _taken_within_capacity(cls, value: int, info: ValidationInfo) -> int:
        if value > info.data.get("capacity", value):
            raise ValueError("taken must not exceed capacity")
        return value
