"""Settings: defaults that work on a fresh machine, and refusal of unsafe production values."""

from __future__ import annotations

from pathlib import Path

import pytest

from matching.errors import ConfigurationError
from matching.settings import BUNDLED_MODEL, PLACEHOLDER_SECRET, Environment, Settings


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STEGVIS_DATABASE_URL", "STEGVIS_DATA_DIR", "STEGVIS_EMBEDDING_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.resolved_database_url == "sqlite:///var/stegvis.db"
    assert settings.resolved_index_dir == Path("var/index")
    assert settings.embedding_model == BUNDLED_MODEL
    assert settings.mlflow_tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert (settings.taxonomy_dir / "occupations.json").is_file()


def test_environment_variables_with_prefix_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEGVIS_DATA_DIR", "/srv/stegvis")
    monkeypatch.setenv("STEGVIS_EMBEDDING_MODEL", "/models/multilingual-e5")
    settings = Settings()
    assert settings.resolved_database_url == "sqlite:////srv/stegvis/stegvis.db"
    assert settings.resolved_index_dir == Path("/srv/stegvis/index")
    assert settings.embedding_model == "/models/multilingual-e5"


def test_explicit_database_url_wins() -> None:
    url = "postgresql+psycopg://stegvis@db/stegvis"
    assert Settings(database_url=url).resolved_database_url == url


@pytest.mark.parametrize("secret", [PLACEHOLDER_SECRET, "", "short-but-not-placeholder"])
def test_production_refuses_placeholder_or_weak_secret(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="STEGVIS_SECRET_KEY"):
        Settings(environment=Environment.PRODUCTION, secret_key=secret)


def test_production_refuses_debug() -> None:
    with pytest.raises(ConfigurationError, match="STEGVIS_DEBUG"):
        Settings(environment=Environment.PRODUCTION, secret_key="x" * 40, debug=True)


def test_production_accepts_a_real_secret_and_development_the_placeholder() -> None:
    Settings(environment=Environment.PRODUCTION, secret_key="k" * 40)
    assert Settings().environment is Environment.DEVELOPMENT


def test_production_from_the_environment_refuses_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `stegvis serve` reads: production with the shipped secret, or with debug on."""
    monkeypatch.delenv("STEGVIS_SECRET_KEY", raising=False)
    monkeypatch.setenv("STEGVIS_ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="STEGVIS_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("STEGVIS_SECRET_KEY", "r4nd0m-" * 6)
    monkeypatch.setenv("STEGVIS_DEBUG", "true")
    with pytest.raises(ConfigurationError, match="STEGVIS_DEBUG"):
        Settings()


def test_cors_is_off_by_default_and_takes_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEGVIS_CORS_ORIGINS", raising=False)
    assert Settings().cors_origins == []
    monkeypatch.setenv("STEGVIS_CORS_ORIGINS", '["https://intranet.example"]')
    assert Settings().cors_origins == ["https://intranet.example"]
