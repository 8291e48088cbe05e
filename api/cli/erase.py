"""`stegvis erase REFERENCE --yes`: erase a participant everywhere (GDPR Art. 17), for admins."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from api.cli.common import console, database, settings_of
from api.cli.users import organisation_id_of
from matching.audit import Actor
from matching.db.session import transaction
from matching.domain import Role
from matching.service import erase_participant, participant_by_reference

log = logging.getLogger("stegvis")


def erase_command(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The participant's external reference.")],
    organisation: Annotated[
        str | None,
        typer.Option(
            help="The participant's organisation (id or exact name), if the "
            "reference exists in several."
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the erasure cannot be undone.")
    ] = False,
) -> None:
    """Delete the participant's profile, consents, vectors, suggestions, decisions and
    outcomes; audit rows keep only a pseudonymous tombstone. Needs --yes."""
    if not yes:
        console.print(
            "[bold red]refused:[/] erasing cannot be undone; run again with --yes to erase"
        )
        raise typer.Exit(code=1)
    settings = settings_of(ctx)
    with database(settings) as factory, transaction(factory) as session:
        participant = participant_by_reference(
            session, reference, organisation_id_of(session, organisation)
        )
        erasure = erase_participant(
            session=session,
            participant=participant,
            secret=settings.secret_key.get_secret_value(),
            actor=Actor(user_id=None, role=Role.ADMIN),
        )
    # The reference is not logged: the log must not remember whom it erased.
    log.info("participant %s", erasure.summary())
    console.print(f"participant {erasure.summary()}")
