"""`stegvis users create|list|password` and `stegvis users tokens list|issue|revoke`: for admins.

A password is typed at a hidden prompt (twice) or read from the first line of stdin with
`--password-stdin` (for scripts); it is never an argument, which would end up in the shell
history and the process list.
"""

from __future__ import annotations

import sys
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from api.cli.common import console, database, settings_of
from matching.db.models import ApiToken, Organisation, User
from matching.db.session import transaction
from matching.domain import Role
from matching.resources import create_user
from matching.users import (
    UserNotFound,
    check_password_rules,
    issue_token,
    revoke_token,
    set_password,
)

users_app = typer.Typer(help="Users and their API tokens.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: shown once, stored as hashes.", no_args_is_help=True)
users_app.add_typer(tokens_app, name="tokens")

DaysOption = Annotated[
    int, typer.Option("--days", min=0, max=3650, help="Days until the token expires; 0: never.")
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (scripts)."
    ),
]


def _read_password(username: str, from_stdin: bool) -> str:
    """The new password: from stdin, or typed twice at a hidden prompt. Checked at once, so
    a refused password is said before anything is stored."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(
            f"password for {username}", hide_input=True, confirmation_prompt=True
        )
    check_password_rules(password, username)
    return password


def _user(session: Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(username)
    return user


def organisation_id_of(session: Session, organisation: str | None) -> int | None:
    """An organisation given by id or by exact name."""
    if organisation is None:
        return None
    if organisation.isdigit():
        return int(organisation)
    found = session.scalar(sa.select(Organisation.id).where(Organisation.name == organisation))
    if found is None:
        raise typer.BadParameter(f"no organisation named {organisation!r}")
    return found


def _show_token(username: str, token: ApiToken, secret: str) -> None:
    console.print(f"token for {username} (id {token.id}, expires {token.expires_at or 'never'}):")
    # The token goes to stdout alone, so it can be piped; it is never shown again.
    Console().print(secret, highlight=False, soft_wrap=True)


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Lower case, e.g. coach.sodertalje.9.")],
    role: Annotated[Role, typer.Option(help="The user's role.")],
    organisation: Annotated[
        str | None, typer.Option(help="Coaches: organisation id or exact name.")
    ] = None,
    employer: Annotated[int | None, typer.Option(help="Employer users: employer id.")] = None,
    asf_provider: Annotated[int | None, typer.Option(help="ASF users: ASF provider id.")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    token: Annotated[bool, typer.Option(help="Also issue a first API token.")] = True,
    days: DaysOption = 90,
    password: Annotated[
        bool, typer.Option(help="Ask for a password for the web pages (hidden prompt).")
    ] = False,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Create a user (and, by default, their first token, shown once; with `--password` or
    `--password-stdin`, a password for the web pages)."""
    secret = _read_password(username, password_stdin) if password or password_stdin else None
    with database(settings_of(ctx)) as factory, transaction(factory) as session:
        user = create_user(
            session=session,
            username=username,
            role=role,
            display_name=display_name,
            organisation_id=organisation_id_of(session, organisation),
            employer_id=employer,
            asf_provider_id=asf_provider,
        )
        console.print(f"created user {user.username} (id {user.id}, {user.role.value})")
        if secret is not None:
            set_password(session=session, user_id=user.id, password=secret)
            console.print("password set (stored as a scrypt hash)")
        if token:
            issued = issue_token(
                session=session, user_id=user.id, name="first", valid_days=days or None
            )
            _show_token(user.username, issued.token, issued.secret)


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    role: Annotated[Role | None, typer.Option(help="Only this role.")] = None,
) -> None:
    """List users with their role and party."""
    with database(settings_of(ctx)) as factory, factory() as session:
        statement = sa.select(User).order_by(User.username)
        if role is not None:
            statement = statement.where(User.role == role)
        table = Table(
            "id", "username", "role", "organisation", "employer", "ASF", "active", "password"
        )
        for user in session.scalars(statement):
            table.add_row(
                str(user.id),
                user.username,
                user.role.value,
                str(user.organisation_id or ""),
                str(user.employer_id or ""),
                str(user.asf_provider_id or ""),
                "yes" if user.is_active else "no",
                "set" if user.password_hash else "",
            )
        console.print(table)


@users_app.command("password")
def users_password(
    ctx: typer.Context, username: str, password_stdin: PasswordStdinOption = False
) -> None:
    """Set or change a user's password for the web pages; their browser sessions end."""
    secret = _read_password(username, password_stdin)
    with database(settings_of(ctx)) as factory, transaction(factory) as session:
        user = set_password(session=session, user_id=_user(session, username).id, password=secret)
        console.print(f"password of {user.username} set; their browser sessions have ended")


@tokens_app.command("list")
def tokens_list(ctx: typer.Context, username: str) -> None:
    """A user's tokens: prefix, name, dates; never the tokens themselves."""
    with database(settings_of(ctx)) as factory, factory() as session:
        user = _user(session, username)
        table = Table("id", "prefix", "name", "created", "expires", "revoked", "last used")
        for token in session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        ):
            table.add_row(
                str(token.id),
                token.prefix,
                token.name,
                f"{token.created_at:%Y-%m-%d}",
                f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never",
                f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "",
                f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "",
            )
        console.print(table)


@tokens_app.command("issue")
def tokens_issue(
    ctx: typer.Context,
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'laptop'.")] = "",
    days: DaysOption = 90,
) -> None:
    """Issue a new token; it is printed once and only its hash is kept."""
    with database(settings_of(ctx)) as factory, transaction(factory) as session:
        user = _user(session, username)
        issued = issue_token(session=session, user_id=user.id, name=name, valid_days=days or None)
        _show_token(user.username, issued.token, issued.secret)


@tokens_app.command("revoke")
def tokens_revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke a token (by the id `tokens list` shows) from now on."""
    with database(settings_of(ctx)) as factory, transaction(factory) as session:
        token = revoke_token(session=session, token_id=token_id)
        console.print(f"token {token.id} ({token.prefix}…) revoked at {token.revoked_at}")
