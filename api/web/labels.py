"""Swedish words for the domain's codes, as the pages show them."""

from __future__ import annotations

from collections.abc import Mapping

from matching.domain import (
    ACCOMMODATION_LABELS,
    ENVIRONMENT_LABELS,
    ConsentScope,
    Decision,
    Gender,
    Goal,
    Lane,
    OpeningStatus,
    OutcomeKind,
    ParticipantStatus,
    ReasonCode,
    Role,
)


def _capitalised(labels: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    return {str(code): sv[:1].upper() + sv[1:] for code, (sv, _) in labels.items()}


ROLES: Mapping[str, str] = {
    Role.COACH: "jobbcoach",
    Role.EMPLOYER: "arbetsgivare",
    Role.ASF_PROVIDER: "ASF-anordnare",
    Role.DATA_TEAM: "datateamet",
    Role.ADMIN: "administratör",
}

LANES: Mapping[str, str] = {
    Lane.JOBS: "Jobb på den öppna arbetsmarknaden",
    Lane.ASF: "Arbetsträning hos ASF",
}

#: The buttons of a suggestion (what the coach does now).
DECISIONS: Mapping[str, str] = {
    Decision.SHORTLISTED: "Kortlista",
    Decision.CONTACTED_EMPLOYER: "Kontakta arbetsgivaren",
    Decision.NOT_NOW: "Inte nu",
    Decision.NEVER: "Aldrig",
}

#: A decision once taken (history, messages).
DECIDED: Mapping[str, str] = {
    Decision.SHORTLISTED: "Kortlistad",
    Decision.CONTACTED_EMPLOYER: "Arbetsgivaren kontaktad",
    Decision.NOT_NOW: "Inte nu",
    Decision.NEVER: "Aldrig",
}

REASONS: Mapping[str, str] = {
    ReasonCode.GOOD_FIT: "Passar bra",
    ReasonCode.PARTICIPANT_INTERESTED: "Deltagaren är intresserad",
    ReasonCode.PARTICIPANT_NOT_INTERESTED: "Deltagaren är inte intresserad",
    ReasonCode.TOO_FAR: "För långt bort",
    ReasonCode.WRONG_HOURS: "Fel antal timmar",
    ReasonCode.SCHEDULE_CLASH: "Krockar med kvällar, helger eller nätter",
    ReasonCode.MISSING_ACCOMMODATION: "Saknar en anpassning som behövs",
    ReasonCode.REQUIREMENTS_TOO_HIGH: "För höga krav",
    ReasonCode.WRONG_OCCUPATION: "Fel yrke",
    ReasonCode.BAD_TIMING: "Fel tidpunkt",
    ReasonCode.OTHER: "Annat",
}

OUTCOMES: Mapping[str, str] = {
    OutcomeKind.INTERVIEW: "Intervju",
    OutcomeKind.JOB_START: "Började arbeta",
    OutcomeKind.ENDED: "Anställningen avslutades",
    OutcomeKind.EMPLOYED_90_DAYS: "Fortfarande anställd efter 90 dagar",
}

GOALS: Mapping[str, str] = {
    Goal.COMPETITIVE_JOB: "Arbete på den öppna arbetsmarknaden",
    Goal.WORK_TRAINING: "Arbetsträning",
    Goal.STUDIES: "Studier",
}

PARTICIPANT_STATUSES: Mapping[str, str] = {
    ParticipantStatus.ACTIVE: "Aktiv",
    ParticipantStatus.PAUSED: "Pausad",
    ParticipantStatus.PLACED: "I arbete",
    ParticipantStatus.ENDED: "Avslutad",
}

GENDERS: Mapping[str, str] = {
    Gender.WOMAN: "Kvinna",
    Gender.MAN: "Man",
    Gender.NON_BINARY: "Icke-binär",
    Gender.UNDISCLOSED: "Vill inte uppge",
}

CONSENTS: Mapping[str, str] = {
    ConsentScope.MATCHING: "Matchning mot jobb och arbetsträningsplatser",
    ConsentScope.FOLLOW_UP: "Uppföljning av vad som händer efteråt",
    ConsentScope.MODEL_TRAINING: "Att beslut och utfall används för att förbättra förslagen",
}

OPENING_STATUSES: Mapping[str, str] = {
    OpeningStatus.OPEN: "Öppen",
    OpeningStatus.FILLED: "Tillsatt",
    OpeningStatus.CLOSED: "Stängd",
}

ACCOMMODATIONS: Mapping[str, str] = _capitalised(ACCOMMODATION_LABELS)
ENVIRONMENTS: Mapping[str, str] = _capitalised(ENVIRONMENT_LABELS)

MODEL_STATUSES: Mapping[str, str] = {
    "champion": "Används nu (champion)",
    "candidate": "Kandidat – klarade grindarna",
    "refused": "Underkänd",
    "retired": "Tidigare champion",
    "rolled back": "Tillbakarullad",
}

GATES: Mapping[str, str] = {
    "ndcg_at_10": "Bättre rangordning (NDCG@10 på utvärderingsperioden)",
    "quality_benchmark": "Ingen försämring på kvalitetsbenchmarken",
    "gender_exposure": "Jämställd exponering av jobb på öppna marknaden",
    "domain_directions": "Varje egenskap verkar åt rätt håll",
}
