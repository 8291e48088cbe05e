"""FAISS vector index per lane: the only module that imports faiss.

Ids are database primary keys; vectors are L2-normalised, so inner product is cosine
similarity. Two kinds:

* ``flat`` (default): exact. Vectors live in a FAISS ``IndexFlatIP``; single and small
  batched queries are scored with one BLAS product over that same storage, because this
  FAISS build scans with one thread for small query batches (measured in
  ``benchmarks/retrieval.py``: about twice as slow as the BLAS product at 100k items).
* ``ivf``: approximate, for large collections: an inverted file over k-means cells
  (``IndexIVFFlat``), which, unlike HNSW, supports removal in place. Recall against exact
  search is measured in the benchmark and tunable with ``nprobe``.

Persistence is a manifest-committed snapshot plus an append-only change log:

* ``manifest.json`` names the current snapshot and log files and carries the metadata
  (model id, dimension, count, checksum of the id set, build time). Replacing the manifest
  (temp file, fsync, ``os.replace``, fsync of the folder) is the single commit point.
* the snapshot is the FAISS index file plus a sidecar of ``(id, content hash)`` pairs, so
  a restart can tell which items changed text while the process was down.
* every change after the snapshot is appended to the log as a checksummed record and
  fsynced; a torn last record (crash mid-write) is detected and cut off. When the log
  grows past a fraction of the index, it is compacted into a new snapshot.

A corrupt snapshot, a checksum mismatch, a malformed manifest or a manifest of another model
or dimension raises :class:`IndexCorrupt` / :class:`IndexMismatch`; the caller rebuilds and
never serves it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import struct
import sys
import threading
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import faiss
import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict, NonNegativeInt, PositiveInt
from pydantic.dataclasses import dataclass as checked_dataclass

from matching.crashpoints import crashpoint
from matching.errors import StegvisError

log = logging.getLogger(__name__)

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float32]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_UPSERT, _REMOVE = b"U", b"R"
_HEADER = struct.Struct("<cqI")  # op, id, payload length
_CRC = struct.Struct("<I")
# madvise(2) advice values; the mmap module offers them only for its own mappings.
_MADV_HUGEPAGE, _MADV_COLLAPSE = 14, 25
_HUGE_PAGE = 2 << 20
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class IndexCorrupt(StegvisError):
    """An index file is unreadable, truncated or does not match its checksum."""


class IndexMismatch(StegvisError):
    """An index on disk was built for another model, dimension or lane."""


class IndexKind(StrEnum):
    FLAT = "flat"
    IVF = "ivf"


@dataclass(frozen=True)
class IndexParams:
    """How the index is built and searched. ``nlist`` 0 means "choose from the size"."""

    kind: IndexKind = IndexKind.FLAT
    nlist: int = 0
    nprobe: int = 32

    def cells_for(self, count: int) -> int:
        if self.nlist:
            return self.nlist
        # About 4·sqrt(n) cells, with at least ~39 training points per cell as FAISS wants.
        return max(1, min(int(4 * np.sqrt(max(count, 1))), count // 39))


class _ReadWriteLock:
    """Many concurrent searches, or one writer: FAISS indexes are not safe to mutate while read.

    Writer-preferring: once a writer waits, new readers queue behind it, so a steady stream
    of searches cannot starve an update (the update then waits only for searches in flight).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            while self._writing or self._writers_waiting:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if self._readers == 0:
                    self._condition.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers:
                    self._condition.wait()
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


def _as_ids(ids: Sequence[int] | Ids) -> Ids:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def _as_vectors(vectors: Vectors, dimension: int) -> Vectors:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.shape[1] != dimension:
        raise ValueError(f"expected vectors of dimension {dimension}, got {array.shape[1]}")
    return array


def id_checksum(ids: Ids) -> str:
    """SHA-256 of the sorted id set: equal sets give equal checksums."""
    return hashlib.sha256(np.sort(_as_ids(ids)).tobytes()).hexdigest()


def _advise_huge_pages(array: Vectors) -> None:
    """Ask Linux to back a large array with 2 MiB pages, as NumPy does for its own arrays.

    The exact search streams every vector through one BLAS product, which is bound by
    memory; over FAISS's storage on 4 KiB pages it measured 5-15% slower than the same
    product over a NumPy array (TLB misses; see benchmarks/retrieval.py). Best effort:
    where transparent huge pages are off or the advice is unknown, nothing changes.
    """
    if _libc is None:
        return
    start = -(-array.ctypes.data // _HUGE_PAGE) * _HUGE_PAGE
    end = (array.ctypes.data + array.nbytes) // _HUGE_PAGE * _HUGE_PAGE
    if end > start:
        for advice in (_MADV_HUGEPAGE, _MADV_COLLAPSE):
            _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), advice)


def _top_k(scores: Scores, k: int) -> npt.NDArray[np.intp]:
    """Row positions of the k highest scores, best first (ties broken by position)."""
    n = scores.shape[0]
    if k >= n:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(scores, n - k)[n - k :]  # the k largest, without a negated copy
    return part[np.lexsort((part, -scores[part]))]


class VectorIndex:
    """Vectors of one lane, addressed by database id. Thread-safe."""

    def __init__(self, dimension: int, params: IndexParams | None = None) -> None:
        self.dimension = dimension
        self.params = params or IndexParams()
        self._lock = _ReadWriteLock()
        self._index: Any = self._new_index(np.zeros((0, dimension), dtype=np.float32))
        self._hashes: dict[int, str] = {}
        # Flat kind: (ids sorted, their storage rows), to find the rows of a few allowed ids
        # without scanning every id; built on first use after each change.
        self._rows_by_id: tuple[Ids, npt.NDArray[np.intp]] | None = None
        # Flat kind: NumPy views of FAISS's vector and id storage. Asking SWIG for them costs
        # more than the rest of a small search, so they are kept until the next write (which
        # may move the storage).
        self._storage: tuple[Vectors, Ids] | None = None
        self._advised_storage = 0  # where the flat vectors were when last given page advice

    # --- construction -----------------------------------------------------------------

    def _new_index(self, training: Vectors) -> Any:
        if self.params.kind is IndexKind.FLAT:
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        cells = self.params.cells_for(training.shape[0])
        quantizer = faiss.IndexFlatIP(self.dimension)
        index = faiss.IndexIVFFlat(quantizer, self.dimension, cells, faiss.METRIC_INNER_PRODUCT)
        if training.shape[0]:
            index.train(training)
        index.nprobe = min(self.params.nprobe, cells)
        # The direct map lets `reconstruct` and in-place removal work by id.
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return index

    @classmethod
    def build(
        cls,
        ids: Sequence[int] | Ids,
        vectors: Vectors,
        hashes: Sequence[str],
        *,
        dimension: int,
        params: IndexParams | None = None,
    ) -> Self:
        index = cls(dimension, params)
        matrix = (
            _as_vectors(vectors, dimension)
            if len(hashes)
            else np.zeros((0, dimension), dtype=np.float32)
        )
        index._index = index._new_index(matrix)
        index.upsert(ids, matrix, hashes)
        return index

    # --- reads --------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock.reading():
            return int(self._index.ntotal)

    def ids(self) -> Ids:
        with self._lock.reading():
            return np.fromiter(self._hashes, dtype=np.int64, count=len(self._hashes))

    def content_hashes(self) -> dict[int, str]:
        with self._lock.reading():
            return dict(self._hashes)

    def __contains__(self, item_id: object) -> bool:
        with self._lock.reading():
            return item_id in self._hashes

    def vector(self, item_id: int) -> Vectors:
        with self._lock.reading():
            return np.asarray(self._index.reconstruct(int(item_id)), dtype=np.float32)

    def search(
        self, queries: Vectors, k: int, *, allowed_ids: Sequence[int] | Ids | None = None
    ) -> tuple[Ids, Scores]:
        """Top-k ids and inner products per query row; missing slots hold id -1.

        `allowed_ids` restricts the search to those ids (ids not in the index are ignored).
        """
        matrix = _as_vectors(queries, self.dimension)
        result_ids = np.full((matrix.shape[0], k), -1, dtype=np.int64)
        result_scores = np.full((matrix.shape[0], k), -np.inf, dtype=np.float32)
        if k <= 0:
            return result_ids, result_scores
        with self._lock.reading():
            if self._index.ntotal == 0:
                return result_ids, result_scores
            if self.params.kind is IndexKind.FLAT:
                vectors, ids = self._flat_vectors(allowed_ids)
            elif allowed_ids is not None:
                vectors, ids = self._reconstructed(allowed_ids)
            else:
                return self._search_faiss(matrix, k)
            if not len(ids):
                return result_ids, result_scores
            scores = matrix @ vectors.T
            for row in range(matrix.shape[0]):
                best = _top_k(scores[row], k)
                result_ids[row, : len(best)] = ids[best]
                result_scores[row, : len(best)] = scores[row, best]
            return result_ids, result_scores

    def _flat_storage(self) -> tuple[Vectors, Ids]:
        storage = self._storage
        if storage is None:
            flat = faiss.downcast_index(self._index.index)
            n = int(flat.ntotal)
            vectors = faiss.rev_swig_ptr(flat.get_xb(), n * self.dimension)
            ids = faiss.rev_swig_ptr(self._index.id_map.data(), n)
            storage = self._storage = (vectors.reshape(n, self.dimension), ids)
        return storage

    def _advise_storage(self) -> None:
        """After a write: huge-page advice for the flat vectors when their storage moved."""
        if self.params.kind is IndexKind.FLAT and self._index.ntotal:
            vectors, _ = self._flat_storage()
            if vectors.ctypes.data != self._advised_storage:
                _advise_huge_pages(vectors)
                self._advised_storage = vectors.ctypes.data

    def _flat_vectors(self, allowed_ids: Sequence[int] | Ids | None) -> tuple[Vectors, Ids]:
        """A flat index's vectors and ids, only the allowed ones if given (exact search)."""
        vectors, ids = self._flat_storage()
        if allowed_ids is None:
            return vectors, ids
        rows = self._rows_of(ids, _as_ids(allowed_ids))
        return vectors[rows], ids[rows]

    def _row_lookup(self, ids: Ids) -> tuple[Ids, npt.NDArray[np.intp]]:
        lookup = self._rows_by_id
        if lookup is None:
            order = np.argsort(ids, kind="stable")
            lookup = self._rows_by_id = (ids[order], order)
        return lookup

    def _rows_of(self, ids: Ids, wanted: Ids) -> npt.NDArray[np.intp]:
        """Storage rows holding `wanted` ids, ascending (as a scan of all ids finds them)."""
        sorted_ids, order = self._row_lookup(ids)
        at = np.minimum(np.searchsorted(sorted_ids, wanted), max(len(sorted_ids) - 1, 0))
        found = at[sorted_ids[at] == wanted] if len(sorted_ids) else at[:0]
        return np.unique(order[found])

    def _reconstructed(self, allowed_ids: Sequence[int] | Ids) -> tuple[Vectors, Ids]:
        """The vectors of the allowed ids of an IVF index, wherever their cells are.

        An IVF search visits only the query's nearest cells, so a filter applied there would
        miss allowed ids elsewhere (and their similarity would read as none). The allowed
        vectors are reconstructed through the direct map and scored exactly instead.
        """
        wanted = np.unique(_as_ids(allowed_ids))
        present = np.fromiter((i for i in wanted.tolist() if i in self._hashes), dtype=np.int64)
        if not len(present):
            return np.zeros((0, self.dimension), dtype=np.float32), present
        return self._index.reconstruct_batch(present), present

    def _search_faiss(self, matrix: Vectors, k: int) -> tuple[Ids, Scores]:
        # `self.params` decides, so a caller can trade recall for speed without a rebuild.
        nprobe = min(self.params.nprobe, int(self._index.nlist))
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        scores, found = self._index.search(matrix, k, params=params)
        scores[found < 0] = -np.inf
        return found.astype(np.int64), scores.astype(np.float32)

    # --- writes -------------------------------------------------------------------------

    def upsert(self, ids: Sequence[int] | Ids, vectors: Vectors, hashes: Sequence[str]) -> None:
        """Add items, replacing any that are already present."""
        id_array = _as_ids(ids)
        if not len(id_array):
            return
        matrix = _as_vectors(vectors, self.dimension)
        if not (len(id_array) == matrix.shape[0] == len(hashes)):
            raise ValueError("ids, vectors and hashes must have the same length")
        if len(np.unique(id_array)) != len(id_array):
            raise ValueError("duplicate ids in one upsert")
        with self._lock.writing():
            present = np.fromiter(
                (i in self._hashes for i in id_array.tolist()), dtype=bool, count=len(id_array)
            )
            if present.any() and self.params.kind is IndexKind.FLAT:
                # An updated vector keeps its storage row: written in place in O(d), where
                # FAISS's removal shifts every later vector and rebuilds its id map, O(n).
                vectors, ids = self._flat_storage()
                sorted_ids, order = self._row_lookup(ids)
                vectors[order[np.searchsorted(sorted_ids, id_array[present])]] = matrix[present]
                pairs = list(zip(id_array.tolist(), hashes, present.tolist(), strict=True))
                self._hashes.update((i, h) for i, h, known in pairs if known)
                id_array, matrix = id_array[~present], matrix[~present]
                hashes = [h for _, h, known in pairs if not known]
            elif present.any():
                self._remove_present(id_array[present].tolist())
            if not len(id_array):
                return
            if not self._index.is_trained:
                # An IVF index created empty learns its cells from the first vectors.
                self._index.train(matrix)
            self._rows_by_id = self._storage = None  # before the add, which may move them
            self._index.add_with_ids(matrix, id_array)
            self._hashes.update(zip(id_array.tolist(), hashes, strict=True))
            self._advise_storage()

    def _remove_present(self, present: list[int]) -> int:
        """Remove ids known to be present; the caller holds the write lock."""
        self._rows_by_id = self._storage = None
        id_array = _as_ids(present)
        if self.params.kind is IndexKind.IVF:
            # The IVF hashtable direct map only accepts an array selector; `id_array` must
            # outlive the call because the selector points into it.
            selector = faiss.IDSelectorArray(len(id_array), faiss.swig_ptr(id_array))
        else:
            selector = faiss.IDSelectorBatch(id_array)
        return int(self._index.remove_ids(selector))

    def remove(self, ids: Sequence[int] | Ids) -> int:
        """Remove the given ids; unknown ids are ignored. Returns how many were removed."""
        with self._lock.writing():
            present = [i for i in _as_ids(ids).tolist() if i in self._hashes]
            if not present:
                return 0
            removed = int(self._remove_present(present))
            for item_id in present:
                del self._hashes[item_id]
            return removed

    # --- serialisation ------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        with self._lock.reading():
            return bytes(faiss.serialize_index(self._index))

    @classmethod
    def from_bytes(
        cls, data: bytes, hashes: dict[int, str], *, dimension: int, params: IndexParams
    ) -> Self:
        index = cls(dimension, params)
        try:
            loaded = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as error:
            raise IndexCorrupt(f"FAISS could not read the index: {error}") from error
        if loaded.d != dimension:
            raise IndexMismatch(f"index has dimension {loaded.d}, expected {dimension}")
        expected = faiss.IndexIVF if params.kind is IndexKind.IVF else faiss.IndexIDMap2
        if not isinstance(loaded, expected):
            raise IndexCorrupt(
                f"the snapshot holds a {type(loaded).__name__}, not a {params.kind.value} index"
            )
        if params.kind is IndexKind.IVF:
            loaded.nprobe = min(params.nprobe, loaded.nlist)
        index._index = loaded
        index._hashes = dict(hashes)
        if int(loaded.ntotal) != len(hashes):
            raise IndexCorrupt(
                f"index holds {loaded.ntotal} vectors but its sidecar lists {len(hashes)} ids"
            )
        index._advise_storage()
        return index


# --- durable storage: manifest + snapshot + change log ----------------------------------------


# Strict: a manifest field of the wrong type (a damaged or hand-edited file) is unreadable,
# not a crash later on.
@checked_dataclass(config=ConfigDict(strict=True))
class Manifest:
    lane: str
    model_id: str
    dimension: PositiveInt
    kind: str
    nlist: NonNegativeInt
    nprobe: PositiveInt
    count: NonNegativeInt
    id_checksum: str
    snapshot_file: str
    snapshot_sha256: str
    hashes_file: str
    hashes_sha256: str
    log_file: str
    built_at: str
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> IndexParams:
        return IndexParams(kind=IndexKind(self.kind), nlist=self.nlist, nprobe=self.nprobe)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same folder, flush + fsync, os.replace, fsync of the folder."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        crashpoint("index.temp.written")
        temporary.replace(path)
        crashpoint("index.renamed")
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _generation_files(generation: str) -> tuple[str, str, str]:
    """The snapshot, id sidecar and log file names of one snapshot generation."""
    return f"vectors-{generation}.faiss", f"ids-{generation}.json", f"log-{generation}.bin"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode_record(op: bytes, item_id: int, payload: bytes) -> bytes:
    body = _HEADER.pack(op, item_id, len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


class StoredIndex:
    """A :class:`VectorIndex` kept durable in a folder (one folder per lane)."""

    def __init__(
        self,
        folder: Path,
        index: VectorIndex,
        manifest: Manifest,
        *,
        compact_ratio: float = 0.1,
        durable: bool = True,
    ) -> None:
        self.folder = folder
        self.index = index
        self.manifest = manifest
        self.compact_ratio = compact_ratio
        #: False: changes stay in memory and nothing in `folder` is ever written or removed
        #: (one of several serving processes; another process owns the files).
        self.durable = durable
        self._write_lock = threading.Lock()
        self._log_records = 0

    # --- creating and opening -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        folder: Path,
        index: VectorIndex,
        *,
        lane: str,
        model_id: str,
        durable: bool = True,
        **extra: Any,
    ) -> Self:
        """Write `index` as a new snapshot with an empty log and commit it (if `durable`)."""
        if durable:
            folder.mkdir(parents=True, exist_ok=True)
        stored = cls(
            folder, index, cls._blank_manifest(lane, model_id, index, extra), durable=durable
        )
        stored.snapshot()
        return stored

    @staticmethod
    def _blank_manifest(
        lane: str, model_id: str, index: VectorIndex, extra: dict[str, Any]
    ) -> Manifest:
        return Manifest(
            lane=lane,
            model_id=model_id,
            dimension=index.dimension,
            kind=index.params.kind.value,
            nlist=index.params.nlist,
            nprobe=index.params.nprobe,
            count=0,
            id_checksum="",
            snapshot_file="",
            snapshot_sha256="",
            hashes_file="",
            hashes_sha256="",
            log_file="",
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            extra=extra,
        )

    @staticmethod
    def read_manifest(folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            manifest = Manifest(**document)
            IndexKind(manifest.kind)
        except FileNotFoundError:
            raise
        except (ValueError, TypeError) as error:
            raise IndexCorrupt(f"{path} is not a valid index manifest: {error}") from error
        if manifest.format_version != FORMAT_VERSION:
            raise IndexMismatch(f"{path} has format {manifest.format_version}")
        # Only plain names of one generation: an altered name must not make the log replay
        # skip silently, nor send later writes to another folder.
        files = (manifest.snapshot_file, manifest.hashes_file, manifest.log_file)
        generation = manifest.log_file.removeprefix("log-").removesuffix(".bin")
        if not generation.isalnum() or files != _generation_files(generation):
            raise IndexCorrupt(f"{path} names files that are not one snapshot generation: {files}")
        return manifest

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        lane: str,
        model_id: str,
        dimension: int,
        compact_ratio: float = 0.1,
        durable: bool = True,
    ) -> Self:
        """Load and verify the committed snapshot, then replay the change log.

        Not `durable`: read only; a torn log tail is skipped rather than cut off, and files
        of other snapshot generations are left to the process that owns the folder.

        Raises FileNotFoundError when there is no index yet, IndexMismatch when it belongs
        to another lane, model or dimension, and IndexCorrupt when any file fails its check.
        """
        manifest = cls.read_manifest(folder)
        if (manifest.lane, manifest.model_id, manifest.dimension) != (lane, model_id, dimension):
            raise IndexMismatch(
                f"index in {folder} was built for lane {manifest.lane!r} with model "
                f"{manifest.model_id!r} (dimension {manifest.dimension}); "
                f"expected lane {lane!r}, model {model_id!r} (dimension {dimension})"
            )
        snapshot = cls._read_checked(folder / manifest.snapshot_file, manifest.snapshot_sha256)
        sidecar = cls._read_checked(folder / manifest.hashes_file, manifest.hashes_sha256)
        try:
            hashes = {int(k): v for k, v in json.loads(sidecar).items()}
        except ValueError as error:
            raise IndexCorrupt(f"the id sidecar of {folder} is unreadable: {error}") from error
        index = VectorIndex.from_bytes(
            snapshot, hashes, dimension=dimension, params=manifest.params
        )
        if id_checksum(index.ids()) != manifest.id_checksum:
            raise IndexCorrupt(f"the id set in {folder} does not match its manifest checksum")
        stored = cls(folder, index, manifest, compact_ratio=compact_ratio, durable=durable)
        stored._replay_log()
        if durable:
            stored._remove_orphans()
        return stored

    @staticmethod
    def _read_checked(path: Path, expected_sha256: str) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError as error:
            raise IndexCorrupt(f"{path} named by the manifest is missing") from error
        if _sha256(data) != expected_sha256:
            raise IndexCorrupt(f"{path} does not match its checksum (truncated or altered)")
        return data

    def _replay_log(self) -> None:
        path = self.folder / self.manifest.log_file
        data = path.read_bytes() if path.exists() else b""
        offset, applied = 0, 0
        dimension = self.index.dimension
        while offset + _HEADER.size <= len(data):
            op, item_id, length = _HEADER.unpack_from(data, offset)
            end = offset + _HEADER.size + length + _CRC.size
            if end > len(data):
                break
            body = data[offset : end - _CRC.size]
            (crc,) = _CRC.unpack_from(data, end - _CRC.size)
            if zlib.crc32(body) != crc or op not in (_UPSERT, _REMOVE):
                break
            payload = body[_HEADER.size :]
            if op == _UPSERT:
                vector = np.frombuffer(payload[: 4 * dimension], dtype=np.float32)
                self.index.upsert(
                    [item_id], vector.reshape(1, -1), [payload[4 * dimension :].decode()]
                )
            else:
                self.index.remove([item_id])
            offset, applied = end, applied + 1
        if offset < len(data) and self.durable:
            # A torn or corrupt tail: the change it held is not durable, so it never
            # happened for the index; the database reconciliation adds it back if needed.
            log.warning("index log %s: cut off %d bytes of a torn record", path, len(data) - offset)
            with path.open("r+b") as handle:
                handle.truncate(offset)
                handle.flush()
                os.fsync(handle.fileno())
        self._log_records = applied

    def _remove_orphans(self) -> None:
        keep = {
            MANIFEST,
            self.manifest.snapshot_file,
            self.manifest.hashes_file,
            self.manifest.log_file,
        }
        for path in self.folder.iterdir():
            if path.name not in keep and path.is_file():
                path.unlink(missing_ok=True)

    # --- changes --------------------------------------------------------------------------

    def upsert(self, ids: Sequence[int], vectors: Vectors, hashes: Sequence[str]) -> None:
        """Apply to memory, then make durable (log append + fsync)."""
        matrix = _as_vectors(vectors, self.index.dimension)
        with self._write_lock:
            self.index.upsert(ids, matrix, hashes)
            self._append(
                [
                    _encode_record(_UPSERT, int(i), matrix[row].tobytes() + h.encode())
                    for row, (i, h) in enumerate(zip(ids, hashes, strict=True))
                ]
            )

    def remove(self, ids: Sequence[int]) -> int:
        with self._write_lock:
            removed = self.index.remove(ids)
            if removed:
                self._append([_encode_record(_REMOVE, int(i), b"") for i in ids])
            return removed

    def _append(self, records: list[bytes]) -> None:
        if not self.durable:
            return
        path = self.folder / self.manifest.log_file
        data = b"".join(records)
        with path.open("ab") as handle:
            # Two writes, so that the crash tests can leave a torn record behind.
            handle.write(data[: len(data) // 2])
            handle.flush()
            crashpoint("index.log.torn")
            handle.write(data[len(data) // 2 :])
            handle.flush()
            os.fsync(handle.fileno())
        crashpoint("index.log.synced")
        self._log_records += len(records)
        if self._log_records > max(256, self.compact_ratio * len(self.index)):
            self._snapshot_locked()

    def snapshot(self) -> None:
        """Write the whole index as a new snapshot with an empty log, then commit."""
        with self._write_lock:
            self._snapshot_locked()

    def _snapshot_locked(self) -> None:
        if not self.durable:
            return
        snapshot_file, hashes_file, log_file = _generation_files(uuid.uuid4().hex[:12])
        data = self.index.to_bytes()
        hashes = json.dumps({str(k): v for k, v in self.index.content_hashes().items()})
        write_atomically(self.folder / snapshot_file, data)
        write_atomically(self.folder / hashes_file, hashes.encode())
        write_atomically(self.folder / log_file, b"")
        crashpoint("index.snapshot.written")
        previous = self.manifest
        manifest = Manifest(
            **{
                **asdict(previous),
                "count": len(self.index),
                "id_checksum": id_checksum(self.index.ids()),
                "snapshot_file": snapshot_file,
                "snapshot_sha256": _sha256(data),
                "hashes_file": hashes_file,
                "hashes_sha256": _sha256(hashes.encode()),
                "log_file": log_file,
            }
        )
        write_atomically(self.folder / MANIFEST, json.dumps(asdict(manifest), indent=1).encode())
        crashpoint("index.manifest.renamed")
        self.manifest = manifest
        self._log_records = 0
        for name in (previous.snapshot_file, previous.hashes_file, previous.log_file):
            if name:
                (self.folder / name).unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        return {
            **asdict(self.manifest),
            "count": len(self.index),
            "log_records": self._log_records,
        }
