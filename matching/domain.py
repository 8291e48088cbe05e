"""Enums and small value types of the domain; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

#: Upper bound of any weekly-hours figure (preferences, openings, outcomes).
MAX_HOURS_PER_WEEK = 80


class Lane(StrEnum):
    """The two result lanes: competitive jobs and ASF work training are never mixed."""

    JOBS = "jobs"
    ASF = "asf"


class Role(StrEnum):
    COACH = "coach"
    EMPLOYER = "employer"
    ASF_PROVIDER = "asf_provider"
    DATA_TEAM = "data_team"
    ADMIN = "admin"


class ConsentScope(StrEnum):
    MATCHING = "matching"
    FOLLOW_UP = "follow_up"
    MODEL_TRAINING = "model_training"


class Goal(StrEnum):
    COMPETITIVE_JOB = "competitive_job"
    WORK_TRAINING = "work_training"
    STUDIES = "studies"


class Gender(StrEnum):
    """Recorded for equality statistics only; never a ranking feature."""

    WOMAN = "woman"
    MAN = "man"
    NON_BINARY = "non_binary"
    UNDISCLOSED = "undisclosed"


class ParticipantStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    PLACED = "placed"
    ENDED = "ended"


class OpeningStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CLOSED = "closed"


class PlacementStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class OpeningSource(StrEnum):
    EMPLOYER = "employer"
    IMPORT = "import"
    FIXTURE = "fixture"


class Decision(StrEnum):
    """What a coach, with the participant, decided about one suggestion."""

    SHORTLISTED = "shortlisted"
    CONTACTED_EMPLOYER = "contacted_employer"
    NOT_NOW = "not_now"
    NEVER = "never"


class ReasonCode(StrEnum):
    """Why a decision was taken; coarse on purpose so it can be learned from."""

    GOOD_FIT = "good_fit"
    PARTICIPANT_INTERESTED = "participant_interested"
    PARTICIPANT_NOT_INTERESTED = "participant_not_interested"
    TOO_FAR = "too_far"
    WRONG_HOURS = "wrong_hours"
    SCHEDULE_CLASH = "schedule_clash"
    MISSING_ACCOMMODATION = "missing_accommodation"
    REQUIREMENTS_TOO_HIGH = "requirements_too_high"
    WRONG_OCCUPATION = "wrong_occupation"
    BAD_TIMING = "bad_timing"
    OTHER = "other"


class OutcomeKind(StrEnum):
    INTERVIEW = "interview"
    JOB_START = "job_start"
    ENDED = "ended"
    EMPLOYED_90_DAYS = "employed_90_days"


class Accommodation(StrEnum):
    """Workplace adjustments a participant may choose to share and an employer may offer."""

    QUIET_WORKPLACE = "quiet_workplace"
    PART_TIME_START = "part_time_start"
    FLEXIBLE_HOURS = "flexible_hours"
    WRITTEN_INSTRUCTIONS = "written_instructions"
    MENTOR = "mentor"
    STEP_FREE_ACCESS = "step_free_access"
    REGULAR_BREAKS = "regular_breaks"
    CLEAR_ROUTINES = "clear_routines"
    LANGUAGE_SUPPORT = "language_support"
    ADJUSTED_PACE = "adjusted_pace"


class WorkEnvironment(StrEnum):
    """Kinds of work environment a participant may prefer and an item may have."""

    OUTDOORS = "outdoors"
    INDOORS = "indoors"
    CUSTOMER_CONTACT = "customer_contact"
    ANIMALS = "animals"
    PHYSICAL = "physical"
    CALM = "calm"
    TEAM = "team"
    INDEPENDENT = "independent"
    HANDS_ON = "hands_on"
    CARE = "care"


#: Swedish and English phrases for each accommodation (used in texts and reasons).
ACCOMMODATION_LABELS: Mapping[str, tuple[str, str]] = {
    Accommodation.QUIET_WORKPLACE: ("lugn arbetsplats", "a quiet workplace"),
    Accommodation.PART_TIME_START: ("start på deltid", "a part-time start"),
    Accommodation.FLEXIBLE_HOURS: ("flexibla arbetstider", "flexible hours"),
    Accommodation.WRITTEN_INSTRUCTIONS: ("skriftliga instruktioner", "written instructions"),
    Accommodation.MENTOR: ("handledare eller mentor", "a mentor"),
    Accommodation.STEP_FREE_ACCESS: ("tillgänglig lokal utan trappor", "step-free access"),
    Accommodation.REGULAR_BREAKS: ("regelbundna pauser", "regular breaks"),
    Accommodation.CLEAR_ROUTINES: ("tydliga rutiner", "clear routines"),
    Accommodation.LANGUAGE_SUPPORT: ("språkstöd", "language support"),
    Accommodation.ADJUSTED_PACE: ("anpassat arbetstempo", "an adjusted pace"),
}

#: Swedish and English phrases for each work environment (used in texts and reasons).
ENVIRONMENT_LABELS: Mapping[str, tuple[str, str]] = {
    WorkEnvironment.OUTDOORS: ("arbete utomhus", "outdoor work"),
    WorkEnvironment.INDOORS: ("arbete inomhus", "indoor work"),
    WorkEnvironment.CUSTOMER_CONTACT: ("kundkontakt och service", "customer contact and service"),
    WorkEnvironment.ANIMALS: ("arbete med djur", "working with animals"),
    WorkEnvironment.PHYSICAL: ("fysiskt och rörligt arbete", "physical, active work"),
    WorkEnvironment.CALM: ("lugn arbetsmiljö", "a calm environment"),
    WorkEnvironment.TEAM: ("arbete i arbetslag", "working in a team"),
    WorkEnvironment.INDEPENDENT: ("självständigt arbete", "independent work"),
    WorkEnvironment.HANDS_ON: ("praktiskt arbete med händerna", "hands-on practical work"),
    WorkEnvironment.CARE: ("omsorg om andra människor", "caring for people"),
}


class LanguageLevel(StrEnum):
    BASIC = "basic"
    GOOD = "good"
    FLUENT = "fluent"
    NATIVE = "native"


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SUGGEST = "suggest"
    FEEDBACK = "feedback"
    OUTCOME = "outcome"
    EXPORT = "export"
    ERASE = "erase"
