"""`stegvis suggest`: ranked, explained suggestions for one participant."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import database, settings_of, track
from matching.db.session import transaction
from matching.domain import Lane
from matching.engine import MatchingEngine
from matching.explain import LANGUAGES, Language
from matching.service import ShownSuggestion, lanes_in_order, participant_by_reference
from matching.service import suggest as suggest_for


def _reasons(suggestion: ShownSuggestion, language: Language) -> str:
    explanation = suggestion.explanation(language)
    lines = [f"[green]+ {r.text}[/] ({r.contribution:+.2f})" for r in explanation.positives]
    lines += [f"[red]- {r.text}[/] ({r.contribution:+.2f})" for r in explanation.negatives]
    return "\n".join(lines)


def suggest(
    ctx: typer.Context,
    participant: Annotated[str, typer.Argument(help="The participant's pseudonymous reference.")],
    lane: Annotated[Lane | None, typer.Option(help="jobs or asf (default: both).")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many to show.")] = 10,
    language: Annotated[str, typer.Option(help="sv or en.")] = "sv",
    organisation: Annotated[
        int | None, typer.Option(help="Organisation id, when the reference is not unique.")
    ] = None,
) -> None:
    """Rank suggestions for one participant and print them with their reasons."""
    if language not in LANGUAGES:
        raise typer.BadParameter(f"language must be one of {', '.join(LANGUAGES)}")
    settings = settings_of(ctx)
    with database(settings) as factory:
        matcher = MatchingEngine.start(settings, factory, track=track)
        with transaction(factory) as session:
            person = participant_by_reference(session, participant, organisation)
            for chosen in [lane] if lane else list(lanes_in_order(person)):
                slate = suggest_for(
                    session=session, engine=matcher, participant_id=person.id, lane=chosen, k=k
                )
                table = Table(
                    "#",
                    "score",
                    "suggestion",
                    "where",
                    "reasons",
                    title=f"{chosen.value}: {participant} — model {slate.model_version}, "
                    f"{slate.considered} candidates",
                    show_lines=True,
                )
                for shown in slate.suggestions:
                    table.add_row(
                        str(shown.rank),
                        f"{shown.score:.2f}",
                        f"[bold]{shown.title}[/]\n{shown.organisation}"
                        + (f"\n{shown.occupation_label}" if shown.occupation_label else ""),
                        shown.municipality or "",
                        _reasons(shown, language),
                    )
                Console().print(table)
