"""HTML forms to the API's validated bodies, with a Swedish message next to each field.

A form is read by the kind of each of its fields (`read_form`), then validated by the same
pydantic body the JSON API takes (`validate`); what fails becomes `{field: message}` for the
template. Messages of domain rules (`InvalidInput`) are translated the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData

from matching.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

FieldKind = Literal["text", "optional", "int", "float", "bool", "choices", "lines", "date"]
Errors = dict[str, str]

#: Dates on the pages are Swedish calendar days.
LOCAL = ZoneInfo("Europe/Stockholm")

#: Domain rules (English in the engine) as the pages say them.
_RULES: Mapping[str, str] = {
    "hours_max must not be less than hours_min": "Får inte vara mindre än det lägsta antalet.",
    "hours_max must be greater than 0": "Måste vara större än 0.",
    "must be given together": "Ange båda koordinaterna, eller ingen.",
    "positions_filled must not exceed positions": "Får inte vara fler än antalet tjänster.",
    "taken must not exceed capacity": "Får inte vara fler än antalet platser.",
    "must not be before the opening was published": "Får inte vara före publiceringsdagen.",
    "not a coach of the participant's organisation": "Inte en coach i organisationen.",
}


def swedish_rule(message: str) -> str:
    for english, swedish in _RULES.items():
        if english in message:
            return swedish
    return "Ogiltigt värde."


def swedish(error: ErrorDetails) -> str:
    """One pydantic error in Swedish."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in ("missing", "string_too_short"):
        return "Fyll i fältet."
    if kind == "string_too_long":
        return f"Högst {ctx.get('max_length')} tecken."
    if kind == "too_long":
        return f"Högst {ctx.get('max_length')} val."
    if kind == "greater_than_equal":
        return f"Måste vara minst {ctx.get('ge')}."
    if kind == "greater_than":
        return f"Måste vara större än {ctx.get('gt')}."
    if kind == "less_than_equal":
        return f"Får vara högst {ctx.get('le')}."
    if kind == "less_than":
        return f"Måste vara mindre än {ctx.get('lt')}."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "Skriv ett heltal."
    if kind in ("float_parsing", "float_type"):
        return "Skriv ett tal."
    if kind in ("enum", "literal_error"):
        return "Välj ett av alternativen."
    if kind == "string_pattern_mismatch":
        return "Fel format."
    if kind == "value_error":
        return swedish_rule(str(error.get("msg", "")))
    return "Ogiltigt värde."


def _number(text: str) -> str:
    # Swedish keyboards write decimals with a comma.
    return text.strip().replace(",", ".").replace("\u2212", "-").replace(" ", "")


def read_form(form: FormData, kinds: Mapping[str, FieldKind]) -> tuple[dict[str, Any], Errors]:
    """The fields named in `kinds` as values of their kind (a number that is not one is an
    error, not a guess)."""
    values: dict[str, Any] = {}
    errors: Errors = {}
    for name, kind in kinds.items():
        raw = form.get(name)
        text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
        if kind == "bool":
            values[name] = raw is not None
        elif kind == "choices":
            values[name] = [v for v in form.getlist(name) if isinstance(v, str) and v]
        elif kind == "lines":
            values[name] = [
                part.strip() for part in text.replace(";", "\n").split("\n") if part.strip()
            ]
        elif kind == "text":
            values[name] = text
        elif kind == "optional":
            values[name] = text.strip() or None
        elif not text.strip():
            values[name] = None
        elif kind == "int":
            try:
                values[name] = int(_number(text))
            except ValueError:
                values[name], errors[name] = text, "Skriv ett heltal."
        elif kind == "float":
            try:
                values[name] = float(_number(text))
            except ValueError:
                values[name], errors[name] = text, "Skriv ett tal."
        else:  # date
            try:
                values[name] = date.fromisoformat(text.strip())
            except ValueError:
                values[name], errors[name] = text, "Skriv ett datum som ÅÅÅÅ-MM-DD."
    return values, errors


def validate(model: type[M], values: Mapping[str, Any], errors: Errors) -> M | None:
    """`values` as the API body `model`; failures are added to `errors` (first per field)."""
    clean = {name: value for name, value in values.items() if name not in errors}
    try:
        body = model.model_validate(clean)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            field = str(item["loc"][0]) if item["loc"] else ""
            errors.setdefault(field, swedish(item))
        return None
    return None if errors else body


def rule_error(error: InvalidInput, errors: Errors) -> None:
    """A domain rule broken by the form, next to its field (or for the whole form)."""
    errors.setdefault(error.field or "", swedish_rule(error.message))


def end_of_day(day: date) -> datetime:
    """The last minute of a Swedish calendar day, in UTC (a closing date)."""
    return datetime.combine(day, time(23, 59), tzinfo=LOCAL).astimezone(UTC)


def midday(day: date) -> datetime:
    """Noon of a Swedish calendar day, in UTC (when something happened that day)."""
    return datetime.combine(day, time(12, 0), tzinfo=LOCAL).astimezone(UTC)


def local_day(moment: datetime | None) -> date | None:
    return moment.astimezone(LOCAL).date() if moment is not None else None
