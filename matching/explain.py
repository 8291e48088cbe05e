"""Contributions -> plain-language reasons in Swedish and English, and the full table.

A reason is written from the facts stored with the feature ("12 km hemifrån, inom din
gräns på 20 km"), addressed to the participant as the coach reads it aloud. The strongest
positive and negative contributions become the short list; every feature appears in the
table with its value, contribution and reason, so nothing about a score is hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from matching.domain import ACCOMMODATION_LABELS, ENVIRONMENT_LABELS
from matching.features import FEATURES

Language = Literal["sv", "en"]
LANGUAGES: tuple[Language, ...] = ("sv", "en")

#: Contributions smaller than this (in score points) are not worth a sentence.
MIN_REASON = 0.05

#: Display names of the features, Swedish and English.
FEATURE_LABELS: Mapping[str, tuple[str, str]] = {
    "occupation": ("Önskat yrke", "Wished-for occupation"),
    "experience": ("Erfarenhet", "Experience"),
    "skills": ("Kunskaper", "Skills"),
    "environment": ("Arbetsmiljö", "Work environment"),
    "semantic": ("Likhet i beskrivning", "Description similarity"),
    "lexical": ("Ordlikhet", "Word similarity"),
    "commute_within": ("Avstånd inom din gräns", "Distance within your limit"),
    "commute_over": ("Avstånd över din gräns", "Distance beyond your limit"),
    "hours_fit": ("Arbetstid", "Working hours"),
    "hours_gap": ("Skillnad i arbetstid", "Hours apart"),
    "schedule_clash": ("Kvällar, helger, nätter", "Evenings, weekends, nights"),
    "accommodation_met": ("Anpassningar som finns", "Accommodations offered"),
    "accommodation_missing": ("Anpassningar som saknas", "Accommodations missing"),
    "days_published": ("Publicerad", "Published"),
    "days_to_expiry": ("Sista ansökningsdag", "Closing date"),
    "free_places": ("Lediga platser", "Free places"),
    "snoozed": ("Inte nu", "Not now"),
}


@dataclass(frozen=True)
class Reason:
    feature: str
    contribution: float
    text: str


@dataclass(frozen=True)
class TableRow:
    feature: str
    label: str
    value: float | None
    contribution: float
    text: str


@dataclass(frozen=True)
class Explanation:
    positives: tuple[Reason, ...]
    negatives: tuple[Reason, ...]
    table: tuple[TableRow, ...]


def _pick(language: Language, sv: str, en: str) -> str:
    return sv if language == "sv" else en


def _list(codes: list[str], labels: Mapping[str, tuple[str, str]], language: Language) -> str:
    index = 0 if language == "sv" else 1
    words = [labels[c][index] if c in labels else c for c in codes]
    if len(words) <= 1:
        return "".join(words)
    conjunction = " och " if language == "sv" else " and "
    return ", ".join(words[:-1]) + conjunction + words[-1]


def _number(value: float) -> str:
    return f"{value:g}"


def _hours(facts: Mapping[str, Any], language: Language) -> tuple[str, str]:
    item = (
        f"{facts['item_min']}"
        if facts["item_min"] == facts["item_max"]
        else f"{facts['item_min']}–{facts['item_max']}"
    )
    wish = (
        f"{facts['wish_min']}"
        if facts["wish_min"] == facts["wish_max"]
        else f"{facts['wish_min']}–{facts['wish_max']}"
    )
    return item, wish


def _occupation(facts: Mapping[str, Any], language: Language) -> str:
    relation = facts.get("relation", "none")
    wanted, item = facts.get("wanted", ""), facts.get("item_occupation", "")
    if relation == "same":
        text = _pick(
            language,
            f"Matchar önskemålet att arbeta som {wanted.lower()}",
            f"Matches the wish to work as {wanted}",
        )
    elif relation == "same_group":
        text = _pick(
            language,
            f"Samma yrkesområde som önskemålet {wanted.lower()}: {facts.get('group', '')}",
            f"Same occupational group as the wish {wanted}: {facts.get('group', '')}",
        )
    elif relation.startswith("substitutable"):
        text = _pick(
            language,
            f"Närliggande yrke till önskemålet {wanted.lower()}: {item}",
            f"An occupation close to the wish {wanted}: {item}",
        )
    else:
        return _pick(
            language,
            f"Inte det yrke som önskats ({wanted.lower()})",
            f"Not the occupation wished for ({wanted})",
        )
    if facts.get("inferred"):
        text += _pick(language, " (yrket tolkat från annonsen)", " (occupation read from the ad)")
    return text


def _experience(facts: Mapping[str, Any], language: Language) -> str:
    # Occupations recognised in what the participant can and has done: a licence or a skill
    # may point to an occupation without the person having worked in it, so say "points to".
    relation = facts.get("relation", "none")
    wanted, item = facts.get("wanted", ""), facts.get("item_occupation", "")
    if relation == "same":
        return _pick(
            language,
            f"Din bakgrund pekar mot yrket {wanted.lower()}",
            f"Your background points to the occupation {wanted}",
        )
    if relation == "none":
        return _pick(
            language,
            "Din bakgrund pekar mot andra yrken",
            "Your background points to other occupations",
        )
    return _pick(
        language,
        f"Din bakgrund pekar mot {wanted.lower()}, som ligger nära: {item}",
        f"Your background points to {wanted}, which is close to: {item}",
    )


def _skills(facts: Mapping[str, Any], language: Language) -> str:
    matched = facts.get("matched", [])
    if not matched:
        return _pick(
            language,
            "Inga av dina kunskaper efterfrågas här",
            "None of your skills are asked for here",
        )
    listing = ", ".join(matched)
    more = facts.get("count", len(matched)) - len(matched)
    suffix = _pick(language, f" och {more} till", f" and {more} more") if more > 0 else ""
    return _pick(
        language,
        f"Efterfrågar kunskaper du har: {listing}{suffix}",
        f"Asks for skills you have: {listing}{suffix}",
    )


def _environment(facts: Mapping[str, Any], language: Language) -> str:
    matched = facts.get("matched", [])
    if matched:
        listing = _list(matched, ENVIRONMENT_LABELS, language)
        return _pick(
            language, f"Matchar önskemålet om {listing}", f"Matches the wish for {listing}"
        )
    listing = _list(facts.get("wanted", []), ENVIRONMENT_LABELS, language)
    return _pick(
        language, f"Erbjuder inte önskad miljö: {listing}", f"Lacks the wished-for {listing}"
    )


def _commute(facts: Mapping[str, Any], language: Language) -> str:
    km, limit = _number(facts["km"]), _number(facts["limit_km"])
    beyond = facts["km"] > facts["limit_km"]
    if not facts.get("stated", True):
        return _pick(
            language,
            f"{km} km hemifrån (ingen egen gräns angiven, jämfört med {limit} km)",
            f"{km} km from home (no limit given, compared with {limit} km)",
        )
    if beyond:
        return _pick(
            language,
            f"{km} km hemifrån, över din gräns på {limit} km",
            f"{km} km from home, beyond your limit of {limit} km",
        )
    return _pick(
        language,
        f"{km} km hemifrån, inom din gräns på {limit} km",
        f"{km} km from home, within your limit of {limit} km",
    )


def _hours_text(facts: Mapping[str, Any], language: Language) -> str:
    item, wish = _hours(facts, language)
    if facts["item_max"] < facts["wish_min"] or facts["item_min"] > facts["wish_max"]:
        return _pick(
            language,
            f"{item} timmar i veckan, du önskar {wish}",
            f"{item} hours a week, you wish for {wish}",
        )
    return _pick(
        language,
        f"{item} timmar i veckan passar dina önskade {wish}",
        f"{item} hours a week fit your wished {wish}",
    )


_CLASHES: Mapping[str, tuple[str, str]] = {
    "evenings": (
        "Kvällsarbete — du har sagt nej till kvällar",
        "Evening work — you said no to evenings",
    ),
    "weekends": (
        "Helgarbete — du har sagt nej till helger",
        "Weekend work — you said no to weekends",
    ),
    "nights": ("Nattarbete — du har sagt nej till nätter", "Night work — you said no to nights"),
}


def _schedule(facts: Mapping[str, Any], language: Language) -> str:
    clashes = facts.get("clashes", [])
    if not clashes:
        return _pick(language, "Arbetstiderna krockar inte med dina önskemål", "No schedule clash")
    index = 0 if language == "sv" else 1
    return "; ".join(_CLASHES[c][index] for c in clashes)


def _accommodation_met(facts: Mapping[str, Any], language: Language) -> str:
    if not facts.get("met"):
        return _pick(language, "Erbjuder inget av det du behöver", "Offers none of what you need")
    listing = _list(facts["met"], ACCOMMODATION_LABELS, language)
    return _pick(
        language, f"Erbjuder det du behöver: {listing}", f"Offers what you need: {listing}"
    )


def _accommodation_missing(facts: Mapping[str, Any], language: Language) -> str:
    if not facts.get("missing"):
        return _pick(language, "Erbjuder allt du behöver", "Offers everything you need")
    listing = _list(facts["missing"], ACCOMMODATION_LABELS, language)
    return _pick(language, f"Erbjuder inte: {listing}", f"Does not offer: {listing}")


def _published(facts: Mapping[str, Any], language: Language) -> str:
    days = int(facts["days"])
    if days == 0:
        return _pick(language, "Publicerad i dag", "Published today")
    return _pick(language, f"Publicerad för {days} dagar sedan", f"Published {days} days ago")


def _expiry(facts: Mapping[str, Any], language: Language) -> str:
    days = int(facts["days"])
    if days == 0:
        return _pick(language, "Sista ansökningsdag i dag", "Closes today")
    return _pick(language, f"Sista ansökningsdag om {days} dagar", f"Closes in {days} days")


def _free(facts: Mapping[str, Any], language: Language) -> str:
    free = int(facts["free"])
    if facts.get("lane") == "asf":
        sv = "1 ledig plats" if free == 1 else f"{free} lediga platser"
        return _pick(language, sv, f"{free} place{'s' if free != 1 else ''} free")
    sv = "1 tjänst att söka" if free == 1 else f"{free} tjänster att söka"
    return _pick(language, sv, f"{free} position{'s' if free != 1 else ''} open")


def _snoozed(facts: Mapping[str, Any], language: Language) -> str:
    days = int(facts["days_ago"])
    return _pick(
        language,
        f"Markerad 'inte nu' för {days} dagar sedan",
        f"Marked 'not now' {days} days ago",
    )


def _semantic(facts: Mapping[str, Any], language: Language) -> str:
    return _pick(
        language,
        "Beskrivningen liknar det du har berättat om dig själv",
        "The description resembles what you told about yourself",
    )


def _lexical(facts: Mapping[str, Any], language: Language) -> str:
    return _pick(
        language,
        "Orden i annonsen liknar dina önskemål och erfarenheter",
        "The wording of the ad resembles your wishes and experience",
    )


_WRITERS: Mapping[str, Callable[[Mapping[str, Any], Language], str]] = {
    "occupation": _occupation,
    "experience": _experience,
    "skills": _skills,
    "environment": _environment,
    "semantic": _semantic,
    "lexical": _lexical,
    "commute_within": _commute,
    "commute_over": _commute,
    "hours_fit": _hours_text,
    "hours_gap": _hours_text,
    "schedule_clash": _schedule,
    "accommodation_met": _accommodation_met,
    "accommodation_missing": _accommodation_missing,
    "days_published": _published,
    "days_to_expiry": _expiry,
    "free_places": _free,
    "snoozed": _snoozed,
}


def reason(feature: str, facts: Mapping[str, Any], language: Language) -> str:
    """The sentence for one feature; empty when nothing is known about it."""
    if not facts:
        return ""
    return _WRITERS[feature](facts, language)


def explain(
    *,
    contributions: Mapping[str, float],
    values: Mapping[str, float | None],
    facts: Mapping[str, Mapping[str, Any]],
    language: Language = "sv",
    top_positive: int = 3,
    top_negative: int = 2,
) -> Explanation:
    """The strongest reasons for and against, and the full contribution table."""
    index = 0 if language == "sv" else 1
    table = tuple(
        TableRow(
            feature=name,
            label=FEATURE_LABELS[name][index],
            value=values.get(name),
            contribution=float(contributions.get(name, 0.0)),
            text=reason(name, facts.get(name, {}), language),
        )
        for name in FEATURES
    )
    said = [row for row in table if row.text and abs(row.contribution) >= MIN_REASON]
    positives = sorted((r for r in said if r.contribution > 0), key=lambda r: -r.contribution)
    negatives = sorted((r for r in said if r.contribution < 0), key=lambda r: r.contribution)
    return Explanation(
        positives=tuple(
            Reason(r.feature, r.contribution, r.text) for r in positives[:top_positive]
        ),
        negatives=tuple(
            Reason(r.feature, r.contribution, r.text) for r in negatives[:top_negative]
        ),
        table=table,
    )
