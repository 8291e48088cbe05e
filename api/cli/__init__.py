"""The `stegvis` command line: one module per command group, wired together here."""

from __future__ import annotations

import typer

from api.cli import data, encoder, erase, index, models, serve, suggest, users
from api.cli.common import console
from matching import crashpoints
from matching.errors import StegvisError
from matching.settings import Settings, configure_logging

app = typer.Typer(
    help="Stegvis: explainable job matching for Supported Employment teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data.db_app, name="db")
app.add_typer(data.fixtures_app, name="fixtures")
app.add_typer(index.index_app, name="index")
app.add_typer(users.users_app, name="users")
app.command()(suggest.suggest)
app.command("erase")(erase.erase_command)
app.command()(serve.serve)
app.command()(serve.demo)
app.command("train")(models.train_command)
app.command("evaluate")(models.evaluate_command)
app.command("simulate")(models.simulate_command)
app.add_typer(models.models_app, name="models")
app.add_typer(encoder.encoder_app, name="encoder")


@app.callback()
def main_callback(ctx: typer.Context) -> None:
    """Build the settings once (from STEGVIS_* variables) for every command."""
    ctx.obj = Settings()
    configure_logging(ctx.obj)
    crashpoints.arm(ctx.obj.crash_at)


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit status 1."""
    try:
        app()
    except StegvisError as error:
        console.print(f"[bold red]error:[/] {error}")
        raise SystemExit(1) from error
