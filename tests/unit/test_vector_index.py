"""VectorIndex: exact and approximate search by database id, updates, filters, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pytest

from embeddings.index import IndexKind, IndexParams, VectorIndex, id_checksum

D = 32


def unit_vectors(n: int, seed: int = 0, clusters: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    if clusters:
        centres = rng.normal(size=(clusters, D))
        x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, D))
    else:
        x = rng.normal(size=(n, D))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def hashes(ids: list[int], version: str = "v1") -> list[str]:
    return [f"{version}-{i}" for i in ids]


@pytest.fixture
def flat() -> tuple[VectorIndex, list[int], npt.NDArray[np.float32]]:
    ids = list(range(100, 400))
    vectors = unit_vectors(len(ids))
    return VectorIndex.build(ids, vectors, hashes(ids), dimension=D), ids, vectors


def brute_force(
    vectors: npt.NDArray[np.float32], ids: list[int], query: npt.NDArray[np.float32], k: int
) -> list[int]:
    scores = vectors @ query
    order = np.lexsort((np.arange(len(ids)), -scores))[:k]
    return [ids[i] for i in order]


def test_flat_search_is_exact(flat: tuple[VectorIndex, list[int], npt.NDArray[np.float32]]) -> None:
    index, ids, vectors = flat
    queries = unit_vectors(20, seed=9)
    found, scores = index.search(queries, 10)
    for row, query in enumerate(queries):
        assert found[row].tolist() == brute_force(vectors, ids, query, 10)
        assert np.all(np.diff(scores[row]) <= 1e-6), "scores come best first"


def test_an_item_finds_itself_first(
    flat: tuple[VectorIndex, list[int], npt.NDArray[np.float32]],
) -> None:
    index, ids, vectors = flat
    found, scores = index.search(vectors[[5]], 3)
    assert found[0, 0] == ids[5]
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_upsert_replaces_and_remove_forgets(
    flat: tuple[VectorIndex, list[int], npt.NDArray[np.float32]],
) -> None:
    index, ids, _ = flat
    replacement = unit_vectors(1, seed=77)
    index.upsert([ids[0]], replacement, ["v2-100"])
    assert len(index) == len(ids)
    assert index.content_hashes()[ids[0]] == "v2-100"
    assert index.search(replacement, 1)[0][0, 0] == ids[0]
    np.testing.assert_allclose(index.vector(ids[0]), replacement[0], atol=1e-6)

    assert index.remove([ids[0], 999_999]) == 1
    assert ids[0] not in index
    assert ids[0] not in index.search(replacement, 10)[0][0].tolist()
    assert index.remove([ids[0]]) == 0
    assert id_checksum(index.ids()) == id_checksum(np.array(ids[1:]))


def test_allowed_ids_restrict_the_search(
    flat: tuple[VectorIndex, list[int], npt.NDArray[np.float32]],
) -> None:
    index, ids, vectors = flat
    allowed = [ids[3], ids[50], ids[200], 123_456]
    found, _ = index.search(vectors[[0]], 10, allowed_ids=allowed)
    assert set(found[0][found[0] >= 0].tolist()) == {ids[3], ids[50], ids[200]}
    assert (found[0] == -1).sum() == 7
    assert (index.search(vectors[[0]], 5, allowed_ids=[])[0] == -1).all()


def test_more_asked_than_held_pads_with_minus_one() -> None:
    index = VectorIndex.build([1, 2], unit_vectors(2), ["a", "b"], dimension=D)
    found, scores = index.search(unit_vectors(1, seed=3), 5)
    assert sorted(found[0, :2].tolist()) == [1, 2]
    assert found[0, 2:].tolist() == [-1, -1, -1]
    assert np.isneginf(scores[0, 2:]).all()


def test_empty_index_and_bad_input() -> None:
    index = VectorIndex(D)
    assert len(index) == 0
    assert (index.search(unit_vectors(1), 3)[0] == -1).all()
    with pytest.raises(ValueError, match="dimension"):
        index.upsert([1], np.ones((1, D + 1), dtype=np.float32), ["a"])
    with pytest.raises(ValueError, match="duplicate"):
        index.upsert([1, 1], unit_vectors(2), ["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        index.upsert([1, 2], unit_vectors(2), ["a"])


def test_ivf_recall_against_exact_and_updates() -> None:
    ids = list(range(5000))
    vectors = unit_vectors(len(ids), seed=1, clusters=50)
    exact = VectorIndex.build(ids, vectors, hashes(ids), dimension=D)
    approximate = VectorIndex.build(
        ids,
        vectors,
        hashes(ids),
        dimension=D,
        params=IndexParams(kind=IndexKind.IVF, nprobe=16),
    )
    queries = unit_vectors(100, seed=2, clusters=50)
    truth, _ = exact.search(queries, 20)
    found, _ = approximate.search(queries, 20)
    recall = np.mean([len(set(t) & set(f)) / 20 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.9

    approximate.remove([int(found[0, 0])])
    assert int(found[0, 0]) not in approximate.search(queries[[0]], 20)[0][0].tolist()
    fresh = unit_vectors(1, seed=99)
    approximate.upsert([7], fresh, ["new"])
    assert approximate.search(fresh, 1)[0][0, 0] == 7
    allowed, _ = approximate.search(queries[[0]], 5, allowed_ids=[1, 2, 3])
    assert set(allowed[0][allowed[0] >= 0].tolist()) <= {1, 2, 3}


def test_ivf_search_among_allowed_ids_is_exact_wherever_their_cells_are() -> None:
    """Ranking asks for the similarity of every candidate: none may be lost to nprobe."""
    ids = list(range(5000))
    vectors = unit_vectors(len(ids), seed=4, clusters=50)
    exact = VectorIndex.build(ids, vectors, hashes(ids), dimension=D)
    approximate = VectorIndex.build(
        ids, vectors, hashes(ids), dimension=D, params=IndexParams(kind=IndexKind.IVF, nprobe=1)
    )
    query = unit_vectors(1, seed=5, clusters=50)
    allowed = [*range(0, 5000, 37), 99_999]  # spread over many cells, and one unknown id
    want_ids, want_scores = exact.search(query, len(allowed), allowed_ids=allowed)
    got_ids, got_scores = approximate.search(query, len(allowed), allowed_ids=allowed)
    assert got_ids.tolist() == want_ids.tolist()
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5)
    assert got_ids[0, -1] == -1  # the unknown id pads
    assert (got_ids[0] >= 0).sum() == len(allowed) - 1


def test_concurrent_searches_while_updating(
    flat: tuple[VectorIndex, list[int], npt.NDArray[np.float32]],
) -> None:
    index, ids, _ = flat
    errors: list[BaseException] = []
    stop = threading.Event()
    known = set(ids) | set(range(10_000, 10_200))

    def searcher() -> None:
        queries = unit_vectors(4, seed=threading.get_ident() % 1000)
        try:
            while not stop.is_set():
                found, _ = index.search(queries, 20)
                assert set(found[found >= 0].tolist()) <= known
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for n in range(200):
        index.upsert([10_000 + n], unit_vectors(1, seed=n), [f"n{n}"])
        if n % 2:
            index.remove([10_000 + n - 1])
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(index) == len(ids) + 100
