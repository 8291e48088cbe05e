"""Simulated coaches for demos and tests: hidden preferences, noisy decisions, outcomes that follow.

The simulated coaches judge suggestions by preferences the engine does not know
(`HIDDEN_SHAPES`): they weigh commute, hours, schedule and accommodations much more than
the hand-set weights do, with other shapes (a steep step just beyond the commute limit,
only a nearly complete hours fit counts), and what the text says somewhat less, in the
hand-set proportions (so learning them costs nothing on the quality benchmark, whose
openings differ only in their text). Their *hidden truth* is
the additive utility of those shapes; `hidden_truth` turns it into graded relevance, so a
trained ranker can be measured against what the coaches really want.

Each round, at a simulated time one `round_days` after the previous, a seeded sample of
participants (with consent to matching) get real suggestions in both lanes from the
engine's serving ranker (`matching.service.suggest`, logged as shown). A coach of the
participant's organisation (a user `sim-coach-<organisation id>`, so simulated decisions
are never mistaken for real ones) reviews each slate: utility plus noise orders it, the
best is contacted, the next two shortlisted, the worst two refused ("never") and the two
before them put off ("not now"); the rest see no action. Outcomes follow contacts with
fixed probabilities — interview, job start, still employed at 90 days — and are recorded
only once their day has come. Rounds end at the moment of simulation, so the last round's
outcomes are still to come, as in life.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from matching.db.models import Consent, Feedback, Participant, Suggestion, User
from matching.domain import ConsentScope, Decision, OutcomeKind, ReasonCode, Role
from matching.engine import MatchingEngine
from matching.features import FEATURES
from matching.progress import Track, no_progress
from matching.ranker import HAND_SET, AdditiveRanker
from matching.service import ShownSuggestion, lanes_in_order, record_feedback, record_outcome
from matching.service import suggest as suggest_for
from training.dataset import feature_row

log = logging.getLogger(__name__)

SIMULATED_COACH_PREFIX: Final = "sim-coach-"
COMMENT: Final = "Simulerat beslut (demo)"

#: The simulated coaches' hidden preferences: knots and ramp weights per feature (the same
#: piecewise-linear form as the ranker's, so "unknown" counts 0 here too). What the text
#: says (occupation, experience, skills, similarity) counts as in the hand-set ranker but
#: at `TEXT_SHARE` of its weight; what the job is like in practice counts far more and with
#: other shapes: a little beyond the commute limit is already a dealbreaker, only a nearly
#: complete hours fit helps, one refused evening or weekend shift rules a job out.
TEXT_SHARE: Final = 0.6
TEXT_FEATURES: Final = ("occupation", "experience", "skills", "environment", "semantic", "lexical")
HIDDEN_SHAPES: Final[Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    **{
        name: ((HAND_SET[name].low, HAND_SET[name].high), (TEXT_SHARE * HAND_SET[name].weight,))
        for name in TEXT_FEATURES
    },
    "commute_within": ((0.0, 1.0), (2.0,)),
    "commute_over": ((0.0, 0.25, 1.5), (-3.0, -1.5)),
    "hours_fit": ((0.0, 0.75, 1.0), (0.3, 2.2)),
    "hours_gap": ((0.0, 1.0), (-3.0,)),
    "schedule_clash": ((0.0, 1.0), (-4.0,)),
    "accommodation_met": ((0.0, 1.0), (1.5,)),
    "accommodation_missing": ((0.0, 1.0), (-2.5,)),
    "days_published": ((30.0, 120.0), (-1.0,)),
    "snoozed": ((0.0, 1.0), (-1.0,)),
}
#: Standard deviation of the coaches' judgement noise, in utility points.
NOISE: Final = 1.0
#: Decisions by position in the slate once ordered by noisy utility.
CONTACTED, SHORTLISTED, NOT_NOW, NEVER = 1, 2, 2, 2
#: Outcome chances after a contact, and the days after the slate when each happens.
P_INTERVIEW, P_JOB_START, P_EMPLOYED_90_DAYS = 0.5, 0.5, 0.7
DAYS_TO_DECISION, DAYS_TO_INTERVIEW, DAYS_TO_START = 2, 10, 30
DAYS_EMPLOYED = DAYS_TO_START + 90
ROUND_DAYS: Final = 7


def hidden_ranker() -> AdditiveRanker:
    """The hidden preferences as an additive model (never served, never registered)."""
    return AdditiveRanker.from_shapes(
        {name: knots for name, (knots, _) in HIDDEN_SHAPES.items()},
        {name: weights for name, (_, weights) in HIDDEN_SHAPES.items()},
    )


def hidden_utility(features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return hidden_ranker().predict(features)


def hidden_truth(features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Graded relevance by the hidden preferences: the utility where it is positive."""
    relevance: npt.NDArray[np.float64] = np.clip(hidden_utility(features), 0.0, None)
    return relevance


def decide(noisy_utility: Sequence[float]) -> list[Decision | None]:
    """Decisions for one slate from each suggestion's noisy utility (None: no action)."""
    order = sorted(range(len(noisy_utility)), key=lambda i: -noisy_utility[i])
    decisions: list[Decision | None] = [None] * len(order)
    for position in order[:CONTACTED]:
        decisions[position] = Decision.CONTACTED_EMPLOYER
    for position in order[CONTACTED : CONTACTED + SHORTLISTED]:
        decisions[position] = Decision.SHORTLISTED
    rest = order[CONTACTED + SHORTLISTED :]
    for position in rest[::-1][:NEVER]:
        decisions[position] = Decision.NEVER
    for position in rest[::-1][NEVER : NEVER + NOT_NOW]:
        decisions[position] = Decision.NOT_NOW
    return decisions


def reason_for(decision: Decision, values: Mapping[str, float | None]) -> ReasonCode:
    """The coarse reason a coach would give, from the features that hurt most."""
    if decision in (Decision.CONTACTED_EMPLOYER, Decision.SHORTLISTED):
        return ReasonCode.GOOD_FIT
    if (values.get("schedule_clash") or 0) > 0:
        return ReasonCode.SCHEDULE_CLASH
    if (values.get("commute_over") or 0) > 0:
        return ReasonCode.TOO_FAR
    if (values.get("hours_gap") or 0) > 0:
        return ReasonCode.WRONG_HOURS
    if (values.get("accommodation_missing") or 0) > 0:
        return ReasonCode.MISSING_ACCOMMODATION
    if decision is Decision.NOT_NOW:
        return ReasonCode.BAD_TIMING
    return ReasonCode.PARTICIPANT_NOT_INTERESTED


def outcomes_after_contact(chance: random.Random) -> list[tuple[OutcomeKind, int]]:
    """What follows one contact: (outcome, days after the slate), each step by chance."""
    steps = [
        (OutcomeKind.INTERVIEW, P_INTERVIEW, DAYS_TO_INTERVIEW),
        (OutcomeKind.JOB_START, P_JOB_START, DAYS_TO_START),
        (OutcomeKind.EMPLOYED_90_DAYS, P_EMPLOYED_90_DAYS, DAYS_EMPLOYED),
    ]
    happened = []
    for kind, probability, days in steps:
        if chance.random() >= probability:
            break
        happened.append((kind, days))
    return happened


@dataclass
class SimulationReport:
    rounds: list[datetime] = field(default_factory=list)
    slates: int = 0
    suggestions: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return (
            f"{len(self.rounds)} rounds, {self.slates} slates, {self.suggestions} suggestions; "
            f"decisions {dict(self.decisions)}; outcomes {dict(self.outcomes)}"
        )


def _simulated_coaches(session: Session) -> dict[int, int]:
    """organisation id -> the simulated coach's user id (created when missing)."""
    organisations = session.scalars(
        sa.select(Participant.organisation_id).distinct().order_by(Participant.organisation_id)
    ).all()
    existing = {
        user.username: user
        for user in session.scalars(
            sa.select(User).where(User.username.startswith(SIMULATED_COACH_PREFIX))
        )
    }
    coaches = {}
    for organisation_id in organisations:
        username = f"{SIMULATED_COACH_PREFIX}{organisation_id}"
        user = existing.get(username)
        if user is None:
            user = User(
                username=username,
                display_name="Simulerad coach (demo)",
                role=Role.COACH,
                organisation_id=organisation_id,
                is_active=False,
            )
            session.add(user)
            session.flush()
        coaches[organisation_id] = user.id
    return coaches


def _eligible(session: Session) -> list[int]:
    """Participants with consent to matching (suggestions need it), in id order."""
    return list(
        session.scalars(
            sa.select(Consent.participant_id)
            .where(Consent.scope == ConsentScope.MATCHING, Consent.withdrawn_at.is_(None))
            .order_by(Consent.participant_id)
        )
    )


def _review(
    session: Session,
    shown: Sequence[ShownSuggestion],
    *,
    participant_id: int,
    coach_id: int,
    shown_at: datetime,
    end: datetime,
    chance: random.Random,
    noise: np.random.Generator,
    report: SimulationReport,
) -> None:
    features = np.asarray([feature_row(s.values) for s in shown], dtype=np.float64)
    noisy = hidden_utility(features.reshape(len(shown), len(FEATURES)))
    noisy = noisy + noise.normal(0.0, NOISE, size=len(shown))
    decided_at = min(end, shown_at + timedelta(days=DAYS_TO_DECISION))
    for suggestion, decision in zip(shown, decide(noisy.tolist()), strict=True):
        if decision is None:
            report.decisions["no action"] += 1
            continue
        record_feedback(
            session=session,
            suggestion_id=suggestion.suggestion_id,
            decision=decision,
            reason_code=reason_for(decision, suggestion.values),
            comment=COMMENT,
            coach_id=coach_id,
            now=decided_at,
        )
        report.decisions[decision.value] += 1
        if decision is not Decision.CONTACTED_EMPLOYER:
            continue
        for kind, days in outcomes_after_contact(chance):
            occurred_at = shown_at + timedelta(days=days)
            if occurred_at > end:
                break
            record_outcome(
                session=session,
                participant_id=participant_id,
                kind=kind,
                occurred_at=occurred_at,
                suggestion_id=suggestion.suggestion_id,
                recorded_by=coach_id,
            )
            report.outcomes[kind.value] += 1


def simulate(
    *,
    session_factory: sessionmaker[Session],
    engine: MatchingEngine,
    rounds: int,
    participants_per_round: int = 60,
    seed: int = 0,
    round_days: int = ROUND_DAYS,
    end: datetime | None = None,
    track: Track = no_progress,
) -> SimulationReport:
    """Run `rounds` rounds of suggestions and simulated reviews; one transaction per round."""
    end = end or datetime.now(UTC)
    chance = random.Random(seed)
    noise = np.random.default_rng(seed)
    report = SimulationReport()
    with session_factory.begin() as session:
        coaches = _simulated_coaches(session)
        eligible = _eligible(session)
    if not eligible:
        return report
    for number in track(range(1, rounds + 1), "simulated rounds", rounds):
        shown_at = end - timedelta(days=round_days * (rounds - number + 1))
        chosen = sorted(chance.sample(eligible, min(participants_per_round, len(eligible))))
        with session_factory.begin() as session:
            for participant_id in chosen:
                participant = session.get(Participant, participant_id)
                assert participant is not None
                for lane in lanes_in_order(participant):
                    slate = suggest_for(
                        session=session,
                        engine=engine,
                        participant_id=participant_id,
                        lane=lane,
                        k=10,
                        now=shown_at,
                    )
                    if not slate.suggestions:
                        continue
                    report.slates += 1
                    report.suggestions += len(slate.suggestions)
                    _review(
                        session,
                        slate.suggestions,
                        participant_id=participant_id,
                        coach_id=coaches[participant.organisation_id],
                        shown_at=shown_at,
                        end=end,
                        chance=chance,
                        noise=noise,
                        report=report,
                    )
        report.rounds.append(shown_at)
    log.info("simulation: %s", report.summary())
    return report


def simulated_rounds(session: Session) -> list[datetime]:
    """The moments of the simulated rounds in the database (slates simulated coaches reviewed)."""
    coaches = sa.select(User.id).where(User.username.startswith(SIMULATED_COACH_PREFIX))
    found = session.scalars(
        sa.select(Suggestion.created_at)
        .join(Feedback, Feedback.suggestion_id == Suggestion.id)
        .where(Feedback.coach_id.in_(coaches))
        .distinct()
        .order_by(Suggestion.created_at)
    ).all()
    return list(found)


def has_simulated_feedback(session: Session) -> bool:
    return bool(simulated_rounds(session))
