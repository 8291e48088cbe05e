"""The model registry on MLflow: runs, versions, the champion alias, gates, serving the champion.

This is the only module that imports mlflow. Every trained ranker is logged as a run
(parameters, dataset digest and size, metrics, shape plots, the model with its signature)
and registered as a version of `settings.ranker_model_name`. A version becomes the alias
`champion` — the ranker coaches see — only when it passes every gate of `check_gates`;
the gate report is kept on the version (tags `stegvis.gates*`) so `stegvis models list` and
`GET /models` can say which gate failed and why. Promotions are remembered in order (a tag
on the registered model), so `rollback` moves the alias back to the previous champion, or
removes it — and the hand-set ranker serves again — when there is none.

`ChampionWatcher` feeds a `matching.engine.RankerSlot` from the registry: it loads the
champion at start and polls for a changed alias; when the registry cannot be read it keeps
the model it has and says so (`status`), which `/ready` reports.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import mlflow
import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from mlflow import MlflowClient
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities.model_registry import ModelVersion
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel, PythonModelContext
from mlflow.types import ColSpec, Schema
from sqlalchemy.engine import make_url

from embeddings.encoder import load_encoder
from matching.crashpoints import crashpoint
from matching.engine import MatchingEngine, RankerSlot
from matching.errors import Conflict, NotFound
from matching.features import FEATURES
from matching.ranker import HAND_SET_VERSION, AdditiveRanker, hand_set_ranker
from matching.settings import Settings
from training.evaluate import Evaluation, ndcg_gain

log = logging.getLogger(__name__)

CHAMPION_ALIAS: Final = "champion"
#: Registered-model tag: the versions that became champion, in order (JSON list).
HISTORY_TAG: Final = "stegvis.champion_history"
GATES_TAG: Final = "stegvis.gates"
GATES_PASSED_TAG: Final = "stegvis.gates_passed"
STATUS_TAG: Final = "stegvis.status"
COMPARED_WITH_TAG: Final = "stegvis.compared_with"
DIGEST_TAG: Final = "stegvis.dataset_digest"
MODEL_ARTIFACT: Final = "ranker"
MODEL_DOCUMENT: Final = "ranker.json"


def version_label(name: str, version: int) -> str:
    """How suggestions record a registered version: "stegvis-ranker/3"."""
    return f"{name}/{version}"


# --- gates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateReport:
    """The promotion gates of one candidate against one champion."""

    compared_with: str
    gates: tuple[Gate, ...]

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def failed(self) -> list[Gate]:
        return [gate for gate in self.gates if not gate.passed]

    def summary(self) -> str:
        if self.passed:
            return f"passed every gate against {self.compared_with}"
        reasons = "; ".join(f"{gate.name}: {gate.detail}" for gate in self.failed)
        return f"refused against {self.compared_with}: {reasons}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GateReport:
        document = json.loads(text)
        return cls(
            compared_with=document["compared_with"],
            gates=tuple(Gate(**gate) for gate in document["gates"]),
        )


def check_gates(candidate: Evaluation, champion: Evaluation, settings: Settings) -> GateReport:
    """The four promotion gates, each with the figures behind its verdict.

    1. NDCG@10 on the held-out period beats the champion's by `gate_min_ndcg_gain`;
    2. NDCG@10 on the quality benchmark falls at most `gate_max_quality_loss` below it;
    3. the gender gap in competitive-job exposure is at most `gate_max_exposure_gap`;
    4. every domain direction is kept.
    An unmeasurable figure (NaN) fails its gate: a model is not promoted unseen.
    """
    ndcg, champion_ndcg = candidate.metrics["ndcg_at_10"], champion.metrics["ndcg_at_10"]
    gain = ndcg - champion_ndcg
    needed = settings.gate_min_ndcg_gain
    # The interval is reported, not gated: the margin is the rule, the interval shows how
    # far the held-out period's size lets one trust the gain.
    paired = ndcg_gain(candidate, champion)
    interval = (
        f", paired bootstrap 95% CI [{paired.low:+.4f}, {paired.high:+.4f}] over "
        f"{paired.first_count} slates"
        if np.isfinite(paired.low)
        else ""
    )
    quality_change = candidate.quality - champion.quality
    gap = candidate.exposure.gap
    bound = settings.gate_max_exposure_gap
    return GateReport(
        compared_with=champion.version,
        gates=(
            Gate(
                "ndcg_at_10",
                bool(np.isfinite(gain)) and gain >= needed,
                f"held-out NDCG@10 {ndcg:.4f} vs champion {champion_ndcg:.4f} "
                f"({gain:+.4f}{interval}; needs {needed:+.4f})",
            ),
            Gate(
                "quality_benchmark",
                bool(np.isfinite(quality_change))
                and quality_change >= -settings.gate_max_quality_loss,
                f"benchmark NDCG@10 {candidate.quality:.4f} vs champion {champion.quality:.4f} "
                f"({quality_change:+.4f}; may lose at most {settings.gate_max_quality_loss:.4f})",
            ),
            Gate(
                "gender_exposure",
                bool(np.isfinite(gap)) and abs(gap) <= bound,
                f"competitive-job share in the top 10, women {candidate.exposure.first_mean:.3f} "
                f"(n={candidate.exposure.first_count}) vs men {candidate.exposure.second_mean:.3f} "
                f"(n={candidate.exposure.second_count}): gap {gap:+.3f}, 95% CI "
                f"[{candidate.exposure.low:+.3f}, {candidate.exposure.high:+.3f}]; "
                f"bound ±{bound:.3f}",
            ),
            Gate(
                "domain_directions",
                not candidate.direction_violations,
                "every feature keeps its direction"
                if not candidate.direction_violations
                else "breaks the direction of " + ", ".join(candidate.direction_violations),
            ),
        ),
    )


# --- the model as MLflow stores it --------------------------------------------------------


class RankerPyfunc(PythonModel):
    """The ranker as an MLflow pyfunc: reads the JSON model document, predicts scores.

    The document (`AdditiveRanker.to_dict`) is the model; nothing is unpickled to serve it.
    """

    ranker: AdditiveRanker

    def load_context(self, context: PythonModelContext) -> None:
        document = json.loads(Path(context.artifacts["ranker"]).read_text(encoding="utf-8"))
        self.ranker = AdditiveRanker.from_dict(document)

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None
    ) -> np.ndarray[Any, Any]:
        columns = model_input.reindex(columns=list(FEATURES)).astype("float64")
        return np.asarray(self.ranker.predict(columns.to_numpy()))


def ranker_signature() -> ModelSignature:
    """One double per feature in (unknown values as NaN), one score out."""
    return ModelSignature(
        inputs=Schema([ColSpec("double", name, required=False) for name in FEATURES]),
        outputs=Schema([ColSpec("double", "score")]),
    )


@dataclass(frozen=True)
class LoggedCandidate:
    version: int
    label: str
    run_id: str


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as `stegvis models list` and `GET /models` show it."""

    version: int
    label: str
    run_id: str | None
    created_at: datetime
    champion: bool
    status: str
    gates: GateReport | None
    dataset_digest: str | None
    metrics: Mapping[str, float]


def _store_exists(uri: str) -> bool:
    """False for a SQLite store whose file does not exist yet (nothing was ever trained)."""
    if not uri.startswith("sqlite:"):
        return True
    database = make_url(uri).database
    return not database or database == ":memory:" or Path(database).exists()


class ModelRegistry:
    """The MLflow tracking store and model registry of one settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.mlflow_tracking_uri
        self.name = settings.ranker_model_name
        # Downloads are tiny JSON files; MLflow's own tqdm bars would only clutter the
        # command line's progress and the server log.
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set("false")  # type: ignore[no-untyped-call]
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        """The MLflow client, made on first use: making it creates a missing SQLite store."""
        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    # --- reading --------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the store exists at all (reading a SQLite store would create it)."""
        return _store_exists(self.uri)

    def champion_version(self) -> int | None:
        """The registered version under the alias `champion`, or None (hand-set serves)."""
        try:
            model = self.client.get_registered_model(self.name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        version = (model.aliases or {}).get(CHAMPION_ALIAS)
        return None if version is None else int(version)

    def registered(self) -> bool:
        """Whether the store exists and holds the registered model (something was trained)."""
        if not self.exists():
            return False
        try:
            self.client.get_registered_model(self.name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return True

    def load(self, version: int) -> AdditiveRanker:
        """The ranker of one registered version, from its JSON model document.

        Resolved through this registry's own client, never through MLflow's process-wide
        registry URI: a `models:/name/version` URI would be looked up in whatever registry
        that global names (in a fresh process, MLflow's default `./mlflow.db`).
        """
        try:
            source = self.client.get_model_version(self.name, str(version)).source or ""
            # MLflow 3 registers a logged model by its id: `models:/m-<id>`.
            model_id = source.removeprefix("models:/")
            root = (
                self.client.get_logged_model(model_id).artifact_location
                if source.startswith("models:/")
                else source
            )
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound("model version", version_label(self.name, version)) from error
            raise
        uri = f"{root.rstrip('/')}/artifacts/{MODEL_DOCUMENT}"
        with tempfile.TemporaryDirectory(prefix="stegvis-model-") as folder:
            try:
                path = mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=folder, tracking_uri=self.uri
                )
            except MlflowException as error:
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                    raise NotFound("model version", version_label(self.name, version)) from error
                raise
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        return AdditiveRanker.from_dict(document)

    def champion(self) -> tuple[AdditiveRanker, str]:
        """The model coaches see now and its label; hand-set when nothing was promoted."""
        version = self.champion_version() if self.registered() else None
        if version is None:
            return hand_set_ranker(), HAND_SET_VERSION
        return self.load(version), version_label(self.name, version)

    def history(self) -> list[int]:
        """The versions that became champion, oldest first (rolled-back ones removed)."""
        try:
            model = self.client.get_registered_model(self.name)
        except MlflowException:
            return []
        return [int(v) for v in json.loads(model.tags.get(HISTORY_TAG, "[]"))]

    def versions(self) -> list[VersionInfo]:
        """Every registered version, newest first, with its status, gates and metrics."""
        if not self.registered():
            return []
        champion = self.champion_version()
        found = self.client.search_model_versions(f"name = '{self.name}'")
        return [
            self._info(version, champion)
            for version in sorted(found, key=lambda v: int(v.version), reverse=True)
        ]

    def version(self, version: int) -> VersionInfo:
        try:
            found = self.client.get_model_version(self.name, str(version))
        except MlflowException as error:
            raise NotFound("model version", version_label(self.name, version)) from error
        return self._info(found, self.champion_version())

    def _info(self, version: ModelVersion, champion: int | None) -> VersionInfo:
        tags = version.tags or {}
        gates = tags.get(GATES_TAG)
        metrics: Mapping[str, float] = {}
        if version.run_id:
            try:
                metrics = dict(self.client.get_run(version.run_id).data.metrics)
            except MlflowException:
                metrics = {}
        number = int(version.version)
        return VersionInfo(
            version=number,
            label=version_label(self.name, number),
            run_id=version.run_id,
            created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
            champion=number == champion,
            status="champion" if number == champion else tags.get(STATUS_TAG, "candidate"),
            gates=GateReport.from_json(gates) if gates else None,
            dataset_digest=tags.get(DIGEST_TAG),
            metrics=metrics,
        )

    # --- writing --------------------------------------------------------------------------

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.settings.mlflow_experiment)
        if experiment is not None:
            return str(experiment.experiment_id)
        root = self.settings.mlflow_artifact_root.resolve()
        return str(
            self.client.create_experiment(
                self.settings.mlflow_experiment, artifact_location=root.as_uri()
            )
        )

    def log_candidate(
        self,
        *,
        model: AdditiveRanker,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        curves: Mapping[str, Sequence[tuple[int, float]]],
        dataset_digest: str,
        dataset_summary: Mapping[str, Any],
        dataset_features: np.ndarray[Any, Any],
        dataset_labels: np.ndarray[Any, Any],
        documents: Mapping[str, Any],
        plots: Mapping[str, bytes],
        gates: GateReport,
    ) -> LoggedCandidate:
        """Log one training run and register its model as a new version, with its gates."""
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        experiment_id = self._experiment_id()
        finite = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
        with (
            mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run,
            tempfile.TemporaryDirectory(prefix="stegvis-run-") as folder,
        ):
            root = Path(folder)
            mlflow.log_params({k: str(v) for k, v in params.items()})
            mlflow.set_tags(
                {
                    DIGEST_TAG: dataset_digest,
                    GATES_PASSED_TAG: str(gates.passed).lower(),
                    COMPARED_WITH_TAG: gates.compared_with,
                }
            )
            mlflow.log_metrics(finite)
            for name, points in curves.items():
                for step, value in points:
                    if np.isfinite(value):
                        mlflow.log_metric(name, float(value), step=step)
            mlflow.log_input(
                from_numpy(
                    dataset_features,
                    targets=dataset_labels,
                    name="logged-suggestions",
                    digest=dataset_digest[:36],
                ),
                context="training",
            )
            for name, document in {
                "dataset.json": dataset_summary,
                "gates.json": json.loads(gates.to_json()),
                **documents,
            }.items():
                mlflow.log_dict(dict(document), name)
            shapes = root / "shapes"
            shapes.mkdir()
            for name, png in plots.items():
                (shapes / name).write_bytes(png)
            mlflow.log_artifacts(str(shapes), artifact_path="shapes")
            crashpoint("training.run_logged")
            document_path = root / MODEL_DOCUMENT
            document_path.write_text(json.dumps(model.to_dict(), sort_keys=True), "utf-8")
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=RankerPyfunc(),
                artifacts={"ranker": str(document_path)},
                signature=ranker_signature(),
                pip_requirements=["numpy", "scipy", "scikit-learn"],
                registered_model_name=self.name,
            )
        version = int(info.registered_model_version)
        crashpoint("training.registered")
        self.client.set_model_version_tag(self.name, str(version), DIGEST_TAG, dataset_digest)
        self.record_gates(version, gates)
        log.info("registered %s: %s", version_label(self.name, version), gates.summary())
        return LoggedCandidate(version, version_label(self.name, version), run.info.run_id)

    def record_gates(self, version: int, gates: GateReport) -> None:
        """Keep a version's latest gate report; its status follows (candidate or refused)."""
        tags = {
            GATES_TAG: gates.to_json(),
            GATES_PASSED_TAG: str(gates.passed).lower(),
            COMPARED_WITH_TAG: gates.compared_with,
            STATUS_TAG: "candidate" if gates.passed else "refused",
        }
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, str(version), key, value)

    def promote(self, version: int, gates: GateReport) -> None:
        """Make `version` the champion; refused (Conflict) unless `gates` passed."""
        if not gates.passed:
            raise Conflict(f"{version_label(self.name, version)} {gates.summary()}")
        self.version(version)  # NotFound for an unknown version
        previous = self.champion_version()
        history = [v for v in self.history() if v != version] + [version]
        self.client.set_registered_model_alias(self.name, CHAMPION_ALIAS, str(version))
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history))
        self.client.set_model_version_tag(self.name, str(version), STATUS_TAG, "champion")
        if previous is not None and previous != version:
            self.client.set_model_version_tag(self.name, str(previous), STATUS_TAG, "retired")
        log.info("%s is the champion", version_label(self.name, version))

    def rollback(self) -> str:
        """Move the alias back to the previous champion (hand-set when there is none)."""
        current = self.champion_version() if self.registered() else None
        if current is None:
            raise Conflict("there is no promoted champion to roll back")
        history = [v for v in self.history() if v != current]
        self.client.set_model_version_tag(self.name, str(current), STATUS_TAG, "rolled back")
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history))
        if history:
            previous = history[-1]
            self.client.set_registered_model_alias(self.name, CHAMPION_ALIAS, str(previous))
            self.client.set_model_version_tag(self.name, str(previous), STATUS_TAG, "champion")
            label = version_label(self.name, previous)
        else:
            self.client.delete_registered_model_alias(self.name, CHAMPION_ALIAS)
            label = HAND_SET_VERSION
        log.info("rolled back %s; %s serves", version_label(self.name, current), label)
        return label


# --- serving the champion -----------------------------------------------------------------


@dataclass(frozen=True)
class WatcherStatus:
    serving: str
    registry_ok: bool
    error: str | None
    checked_at: datetime | None

    def ready_check(self) -> str:
        """One line for `/ready`: "ok", or what is wrong and which model still serves."""
        if self.registry_ok:
            return "ok"
        return f"registry unreachable ({self.error}), serving {self.serving}"


class Poller:
    """Calls `poll` once on `start` and then every `interval` seconds on a daemon thread."""

    interval: float
    thread_name: str = "stegvis-poller"
    _stop: threading.Event
    _thread: threading.Thread | None

    def poll(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self.poll()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)


class ChampionWatcher(Poller):
    """Keeps a `RankerSlot` serving the registry's champion, without restarting anything.

    `start` loads the champion once (so the first request already gets it) and then polls
    every `interval` seconds in a daemon thread; `poll` is also callable directly (on a
    signal, or in tests). On any registry error the slot keeps the model it has.
    """

    thread_name = "stegvis-champion-watcher"

    def __init__(self, registry: ModelRegistry, slot: RankerSlot, *, interval: float) -> None:
        self.registry = registry
        self.slot = slot
        self.interval = interval
        self._version: int | None = None
        self._error: str | None = None
        self._checked_at: datetime | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Check the alias once; load and serve a changed champion. True when it changed."""
        with self._lock:
            try:
                if self.registry.registered():
                    version = self.registry.champion_version()
                elif self._version is not None:
                    # It served a champion before: the store is lost or wrong, not empty.
                    raise NotFound("registered model", self.registry.name)
                else:
                    version = None
                changed = version != self._version or self._checked_at is None
                if changed:
                    if version is None:
                        model, label = hand_set_ranker(), HAND_SET_VERSION
                    else:
                        model = self.registry.load(version)
                        label = version_label(self.registry.name, version)
                    self.slot.replace(model, label)
                    self._version = version
            except Exception as error:  # the registry is another system: any failure
                self._error = f"{type(error).__name__}: {error}"
                log.warning(
                    "model registry unreachable, still serving %s: %s",
                    self.slot.current()[1],
                    self._error,
                )
                return False
            self._error = None
            self._checked_at = datetime.now(UTC)
            return changed

    def status(self) -> WatcherStatus:
        return WatcherStatus(
            serving=self.slot.current()[1],
            registry_ok=self._error is None,
            error=self._error,
            checked_at=self._checked_at,
        )


# --- the adapted encoder --------------------------------------------------------------------

ENCODER_MODEL_NAME: Final = "stegvis-encoder"
ENCODER_EXPERIMENT: Final = "stegvis-encoder"
ENCODER_ARTIFACT: Final = "encoder"


class EncoderRegistry(ModelRegistry):
    """The fine-tuned sentence-transformers encoders: their own experiment and model name.

    Versions, gates, statuses, promotion history and rollback work as for the ranker; the
    model is the saved sentence-transformers folder, logged as a plain artifact (the engine
    loads it with the encoder module, nothing is unpickled).
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.model_copy(update={"mlflow_experiment": ENCODER_EXPERIMENT}))
        self.name = ENCODER_MODEL_NAME

    def log_encoder(
        self,
        *,
        folder: Path,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        curves: Mapping[str, Sequence[tuple[int, float]]],
        dataset_digest: str,
        documents: Mapping[str, Any],
        plots: Mapping[str, bytes],
        gates: GateReport,
    ) -> LoggedCandidate:
        """Log one fine-tuning run and register its model folder as a new version."""
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        experiment_id = self._experiment_id()
        with (
            mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run,
            tempfile.TemporaryDirectory(prefix="stegvis-run-") as scratch,
        ):
            mlflow.log_params({k: str(v) for k, v in params.items()})
            mlflow.set_tags(
                {
                    DIGEST_TAG: dataset_digest,
                    GATES_PASSED_TAG: str(gates.passed).lower(),
                    COMPARED_WITH_TAG: gates.compared_with,
                }
            )
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
            for name, points in curves.items():
                for step, value in points:
                    if np.isfinite(value):
                        mlflow.log_metric(name, float(value), step=step)
            for name, document in {"gates.json": json.loads(gates.to_json()), **documents}.items():
                mlflow.log_dict(dict(document), name)
            for name, png in plots.items():
                path = Path(scratch) / name
                path.write_bytes(png)
                mlflow.log_artifact(str(path))
            mlflow.log_artifacts(str(folder), artifact_path=ENCODER_ARTIFACT)
            source = f"{run.info.artifact_uri}/{ENCODER_ARTIFACT}"
        if not self.registered():
            self.client.create_registered_model(self.name)
        created = self.client.create_model_version(self.name, source, run_id=run.info.run_id)
        version = int(created.version)
        self.client.set_model_version_tag(self.name, str(version), DIGEST_TAG, dataset_digest)
        self.record_gates(version, gates)
        log.info("registered %s: %s", version_label(self.name, version), gates.summary())
        return LoggedCandidate(version, version_label(self.name, version), run.info.run_id)

    def download(self, version: int, root: Path) -> Path:
        """The version's model folder under `root` (downloaded once; a folder per version)."""
        destination = root / f"{self.name}-{version}"
        if (destination / "config.json").exists():
            return destination
        try:
            found = self.client.get_model_version(self.name, str(version))
        except MlflowException as error:
            raise NotFound("encoder version", version_label(self.name, version)) from error
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as scratch:
            path = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=found.source, dst_path=scratch, tracking_uri=self.uri
                )
            )
            path.replace(destination)
        return destination


class EncoderWatcher(Poller):
    """Keeps an engine serving the registry's champion encoder, without a restart.

    On a changed alias it downloads the version and switches the engine in the background
    (`MatchingEngine.switch_encoder`: every item is embedded into new indexes while
    searches go on against the old ones, then one swap); a rollback to no champion switches
    back to the configured model. Registry errors leave the serving encoder as it is.
    """

    thread_name = "stegvis-encoder-watcher"

    def __init__(
        self, registry: EncoderRegistry, engine: MatchingEngine, *, interval: float
    ) -> None:
        self.registry = registry
        self.engine = engine
        self.interval = interval
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wanted(self) -> tuple[str, str]:
        """(label, model setting) of the encoder the registry says should serve."""
        settings = self.registry.settings
        version = self.registry.champion_version() if self.registry.registered() else None
        if version is None:
            return settings.embedding_model, settings.embedding_model
        folder = self.registry.download(version, settings.data_dir / "encoders")
        return version_label(self.registry.name, version), str(folder)

    def poll(self) -> threading.Thread | None:
        """Start a background switch when the champion changed; the switching thread."""
        engine = self.engine
        try:
            label, spec = self.wanted()
            if label in (engine.encoder_version, engine.encoder_switching_to):
                return None
            encoder = load_encoder(
                spec, max_seq_length=self.registry.settings.embedding_max_seq_length
            )
        except Exception as error:  # the registry is another system: any failure
            self.error = f"{type(error).__name__}: {error}"
            log.warning("encoder registry unreachable, still serving %s", engine.encoder_version)
            return None
        self.error = None
        log.info("switching the encoder to %s in the background", label)
        return engine.switch_encoder_in_background(encoder, label)
