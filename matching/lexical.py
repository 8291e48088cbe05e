"""Lexical similarity: character n-gram TF-IDF per lane (the engine's), and word BM25 (a baseline).

Swedish writes compounds as one word ("lagerarbetare", "truckkort"), so whole-word matching
misses "lagerarbete" vs "lagerarbetare". Character n-grams within word boundaries (3–5
characters) share most of their grams across such pairs, which is why the engine's lexical
signal is a character n-gram TF-IDF cosine. Word-level BM25 is kept as a baseline for the
quality benchmark.

The TF-IDF index is incremental like the vector index: ids are database keys; items added
after the last build are transformed with the fitted vocabulary and kept in a small delta
that is folded into the main matrix on `compact()`. Searches read an immutable snapshot,
so they are safe while an update runs.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer

Ids = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Scores = npt.NDArray[np.float32]

#: A query keeps at most this many of its n-grams (the highest-weighted) for candidate
#: search; the similarity used as a feature is always computed over all of them.
QUERY_GRAMS = 300
#: Fold the delta into the main matrix when it grows past this share of the main matrix.
COMPACT_SHARE = 0.1
#: Query vectors kept for texts seen recently.
QUERIES_REMEMBERED = 4096

#: How texts become n-grams: within word boundaries, 3 to 5 characters, lower-cased.
_ANALYSER: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (3, 5),
    "lowercase": True,
    "dtype": np.float32,
}

_WORD = re.compile(r"[0-9a-zåäöéüæø]+(?:-[0-9a-zåäöéüæø]+)*")


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def fit_tfidf(texts: Sequence[str]) -> tuple[TfidfVectorizer, sp.csr_matrix, Rows]:
    """The fitted vectorizer, the TF-IDF rows of the distinct texts, and each text's row.

    `distinct[rows]` is equal, bit for bit, to `TfidfVectorizer(...).fit_transform(texts)`
    (texts normalised already), but each distinct text is analysed and stored once: a lane
    often repeats a text (one employer's opening in several places), and counting n-grams
    is the slow part of building. Document frequencies still count every text.
    """
    row_of: dict[str, int] = {}
    rows = np.fromiter(
        (row_of.setdefault(text, len(row_of)) for text in texts), dtype=np.intp, count=len(texts)
    )
    counter = CountVectorizer(**_ANALYSER)
    distinct_counts = counter.fit_transform(list(row_of))
    weighting = TfidfTransformer(sublinear_tf=True).fit(distinct_counts[rows])
    vectorizer = TfidfVectorizer(**_ANALYSER, sublinear_tf=True, vocabulary=counter.vocabulary_)
    vectorizer.idf_ = weighting.idf_
    return vectorizer, weighting.transform(distinct_counts).tocsr(), rows


def distinct_rows(matrix: sp.csr_matrix) -> tuple[sp.csr_matrix, Rows]:
    """The distinct rows of `matrix` and each row's position among them (first seen first)."""
    matrix = matrix.sorted_indices()  # a text's row has one representation
    position_of: dict[bytes, int] = {}
    keep: list[int] = []
    rows = np.empty(matrix.shape[0], dtype=np.intp)
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for row in range(matrix.shape[0]):
        start, end = indptr[row], indptr[row + 1]
        key = indices[start:end].tobytes() + data[start:end].tobytes()
        position = position_of.setdefault(key, len(keep))
        if position == len(keep):
            keep.append(row)
        rows[row] = position
    return matrix[keep], rows


@dataclass(frozen=True)
class _Snapshot:
    """One lane's searchable state. Items that share a text share a row of `matrix` (and
    so of `postings`): a candidate search reads each distinct text's n-grams once."""

    vectorizer: TfidfVectorizer | None
    ids: Ids = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: item position -> its row of `matrix`
    text_rows: Rows = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    #: the TF-IDF rows of the distinct texts
    matrix: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32))
    #: n-gram -> (distinct text row, weight): `matrix` transposed
    postings: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32))
    alive: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: item id -> item position
    row_of: dict[int, int] = field(default_factory=dict)
    delta: dict[int, sp.csr_matrix] = field(default_factory=dict)
    #: item positions grouped by their text row: those of row r are
    #: `text_items[text_starts[r]:text_starts[r + 1]]`
    text_items: Rows = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    text_starts: Rows = field(default_factory=lambda: np.zeros(1, dtype=np.intp))
    #: item positions in id order, and the ids in that order (to find many ids at once)
    id_order: Rows = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    sorted_ids: Ids = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def changed(self, alive: npt.NDArray[np.bool_], delta: dict[int, sp.csr_matrix]) -> _Snapshot:
        """The same rows with other live items and delta (an upsert or removal)."""
        return replace(self, alive=alive, delta=delta)


def _ranges(starts: Rows, ends: Rows) -> tuple[Rows, Rows]:
    """The positions start..end-1 of every range, concatenated, and each range's length."""
    lengths = ends - starts
    firsts = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return firsts + np.arange(int(lengths.sum()), dtype=np.intp), lengths


class CharNgramIndex:
    """Character n-gram TF-IDF vectors of one lane's items, searchable by cosine similarity."""

    def __init__(self) -> None:
        self._snapshot = _Snapshot(vectorizer=None)
        self._write = threading.Lock()
        # Query vectors of recent texts under the current vocabulary: a participant's text
        # is vectorised on every suggestion but changes rarely.
        self._queries: OrderedDict[str, sp.csr_matrix] = OrderedDict()
        self._queries_of: TfidfVectorizer | None = None
        self._queries_lock = threading.Lock()

    def __len__(self) -> int:
        snapshot = self._snapshot
        return int(snapshot.alive.sum()) + len(snapshot.delta)

    def ids(self) -> set[int]:
        snapshot = self._snapshot
        return {int(i) for i in snapshot.ids[snapshot.alive]} | set(snapshot.delta)

    def build(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        """Fit the vocabulary on `texts` and replace everything with them."""
        if len(ids) != len(texts):
            raise ValueError("ids and texts must have the same length")
        with self._write:
            self._build_locked(ids, texts)

    def _build_locked(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        if not texts:
            self._snapshot = _Snapshot(vectorizer=None)
            return
        vectorizer, matrix, text_rows = fit_tfidf([normalise(t) for t in texts])
        self._snapshot = self._assemble(
            vectorizer, np.asarray(ids, dtype=np.int64), matrix, text_rows
        )

    @staticmethod
    def _assemble(
        vectorizer: TfidfVectorizer, ids: Ids, matrix: sp.csr_matrix, text_rows: Rows
    ) -> _Snapshot:
        matrix.sort_indices()  # each row's n-grams in column order (a no-op when they are)
        text_items = np.argsort(text_rows, kind="stable")
        text_starts = np.searchsorted(text_rows[text_items], np.arange(matrix.shape[0] + 1))
        id_order = np.argsort(ids, kind="stable")
        return _Snapshot(
            vectorizer=vectorizer,
            ids=ids,
            text_rows=text_rows,
            matrix=matrix,
            postings=matrix.T.tocsr(),
            alive=np.ones(len(ids), dtype=bool),
            row_of={int(item_id): row for row, item_id in enumerate(ids)},
            text_items=text_items.astype(np.intp),
            text_starts=text_starts.astype(np.intp),
            id_order=id_order.astype(np.intp),
            sorted_ids=ids[id_order],
        )

    def upsert(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        """Add or replace items, using the vocabulary of the last build."""
        if not ids:
            return
        with self._write:
            snapshot = self._snapshot
            if snapshot.vectorizer is None:
                # Nothing was built yet (an empty lane): the first items fit the vocabulary.
                self._build_locked(ids, texts)
                return
            rows = snapshot.vectorizer.transform([normalise(t) for t in texts]).tocsr()
            alive = snapshot.alive.copy()
            delta = dict(snapshot.delta)
            for position, item_id in enumerate(ids):
                row = snapshot.row_of.get(int(item_id))
                if row is not None:
                    alive[row] = False
                delta[int(item_id)] = rows[position]
            self._snapshot = snapshot.changed(alive, delta)
            if len(delta) > COMPACT_SHARE * max(len(snapshot.ids), 100):
                self._compact_locked()

    def remove(self, ids: Sequence[int]) -> None:
        with self._write:
            snapshot = self._snapshot
            alive = snapshot.alive.copy()
            delta = dict(snapshot.delta)
            for item_id in ids:
                row = snapshot.row_of.get(int(item_id))
                if row is not None:
                    alive[row] = False
                delta.pop(int(item_id), None)
            self._snapshot = snapshot.changed(alive, delta)

    def compact(self) -> None:
        """Fold the delta into the main matrix (keeps the vocabulary)."""
        with self._write:
            self._compact_locked()

    def _compact_locked(self) -> None:
        snapshot = self._snapshot
        if snapshot.vectorizer is None:
            return
        keep = np.flatnonzero(snapshot.alive)
        parts = [snapshot.matrix[snapshot.text_rows[keep]]]
        ids = [snapshot.ids[keep]]
        if snapshot.delta:
            delta_ids = sorted(snapshot.delta)
            parts.append(sp.vstack([snapshot.delta[i] for i in delta_ids]).tocsr())
            ids.append(np.asarray(delta_ids, dtype=np.int64))
        matrix, text_rows = distinct_rows(sp.vstack(parts).tocsr())
        self._snapshot = self._assemble(snapshot.vectorizer, np.concatenate(ids), matrix, text_rows)

    # --- reads ----------------------------------------------------------------------------

    def vectorise(self, text: str) -> sp.csr_matrix | None:
        """The query vector of `text` (callers must not change it: it may be shared)."""
        current = self._snapshot.vectorizer
        if current is None:
            return None
        vectorizer: TfidfVectorizer = current
        key = normalise(text)
        with self._queries_lock:
            if self._queries_of is not vectorizer:
                self._queries.clear()
                self._queries_of = vectorizer
            query = self._queries.get(key)
            if query is not None:
                self._queries.move_to_end(key)
                return query
        query = vectorizer.transform([key]).tocsr()
        with self._queries_lock:
            if self._queries_of is vectorizer:
                self._queries[key] = query
                if len(self._queries) > QUERIES_REMEMBERED:
                    self._queries.popitem(last=False)
        return query

    def similarities(self, query: sp.csr_matrix | None, ids: Sequence[int]) -> Scores:
        """Exact cosine similarity of the query to each of `ids` (0 for unknown ids)."""
        result = np.zeros(len(ids), dtype=np.float32)
        if query is None or not len(ids):
            return result
        snapshot = self._snapshot
        dense_query = np.asarray(query.toarray()).ravel()
        wanted = np.asarray(ids, dtype=np.int64)
        if snapshot.sorted_ids.size:
            # Items of the main matrix (an item in the delta has its main row dead).
            where = np.minimum(
                np.searchsorted(snapshot.sorted_ids, wanted), snapshot.sorted_ids.size - 1
            )
            positions = snapshot.id_order[where]
            main = (snapshot.sorted_ids[where] == wanted) & snapshot.alive[positions]
            rows, inverse = np.unique(snapshot.text_rows[positions[main]], return_inverse=True)
            # One sparse row product per distinct text (C loops over each row's n-grams in
            # column order: the same sums, in the same order, as `search` adds them).
            result[main] = (snapshot.matrix[rows] @ dense_query)[inverse]
        if snapshot.delta:
            for position, item_id in enumerate(wanted.tolist()):
                delta_row = snapshot.delta.get(item_id)
                if delta_row is not None:
                    result[position] = delta_row.data @ dense_query[delta_row.indices]
        return result

    def search(self, query: sp.csr_matrix | None, k: int) -> tuple[Ids, Scores]:
        """Top-k (ids, approximate cosine) using the query's strongest n-grams."""
        snapshot = self._snapshot
        if query is None or k <= 0 or query.nnz == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        weights, columns = query.data, query.indices
        if weights.size > QUERY_GRAMS:
            strongest = np.sort(np.argpartition(-weights, QUERY_GRAMS - 1)[:QUERY_GRAMS])
            weights, columns = weights[strongest], columns[strongest]
        # The query's n-grams' postings, weighted and summed per distinct text: one sparse
        # product (column by column, so each text's sum runs in n-gram order).
        per_text: Scores = np.asarray(snapshot.postings[columns].T @ weights, dtype=np.float32)
        positions = self._best_items(snapshot, per_text, k)
        ids, values = snapshot.ids[positions], per_text[snapshot.text_rows[positions]]
        if snapshot.delta:
            delta_ids = np.fromiter(snapshot.delta, dtype=np.int64, count=len(snapshot.delta))
            full = np.asarray(query.toarray()).ravel()
            delta_scores = np.asarray(
                [row.data @ full[row.indices] for row in snapshot.delta.values()],
                dtype=np.float32,
            )
            ids = np.concatenate([ids, delta_ids])
            values = np.concatenate([values, delta_scores])
        if not values.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # Few candidates are left: sort them all, so ties at the k-th place go by id too.
        best = np.lexsort((ids, -values))[:k]
        best = best[values[best] > 0]
        return ids[best], values[best]

    @staticmethod
    def _best_items(snapshot: _Snapshot, per_text: Scores, k: int) -> Rows:
        """Positions of live items among which the k best of the main matrix are.

        The items of the texts scoring at least the m-th best text score: when at least k
        of them live, no other item can be among the k best. m starts at k and doubles
        until enough live (texts whose items were all removed hold none).
        """
        texts = per_text.size
        m = min(k, texts)
        while True:
            threshold = np.partition(per_text, texts - m)[texts - m] if m else 0.0
            # Items scoring 0 are never found: past them, every text that scores is taken.
            final = m >= texts or threshold <= 0
            chosen = np.flatnonzero(per_text > 0 if final else per_text >= threshold)
            entries, _ = _ranges(snapshot.text_starts[chosen], snapshot.text_starts[chosen + 1])
            positions = snapshot.text_items[entries]
            positions = positions[snapshot.alive[positions]]
            if positions.size >= k or final:
                return positions
            m = min(texts, 2 * m)


class Bm25Index:
    """Okapi BM25 over lower-cased words; a baseline in the quality benchmark."""

    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float64)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            lengths[row] = len(words)
            tally: dict[int, int] = {}
            for word in words:
                column = vocabulary.setdefault(word, len(vocabulary))
                tally[column] = tally.get(column, 0) + 1
            rows.extend([row] * len(tally))
            columns.extend(tally)
            counts.extend(tally.values())
        shape = (len(texts), max(1, len(vocabulary)))
        tf = sp.csr_matrix((np.asarray(counts, dtype=np.float64), (rows, columns)), shape=shape)
        documents = np.bincount(np.asarray(columns, dtype=np.int64), minlength=shape[1])
        n = max(1, len(texts))
        self.idf = np.log1p((n - documents + 0.5) / (documents + 0.5))
        norm = k1 * (1 - b + b * lengths / max(1e-9, lengths.mean() if n else 1.0))
        tf = tf.tocoo()
        weighted = tf.data * (k1 + 1) / (tf.data + norm[tf.row])
        self.matrix = sp.csr_matrix((weighted, (tf.row, tf.col)), shape=shape).T.tocsr()
        self.vocabulary = vocabulary

    def scores(self, query: str) -> npt.NDArray[np.float64]:
        """BM25 score of every text for `query` (texts in construction order)."""
        columns = sorted(
            {self.vocabulary[w] for w in _WORD.findall(query.lower()) if w in self.vocabulary}
        )
        if not columns:
            return np.zeros(self.matrix.shape[1])
        return np.asarray(self.idf[columns] @ self.matrix[columns]).ravel()
