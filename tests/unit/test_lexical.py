"""Character n-gram TF-IDF: Swedish compounds meet, updates are immediate, BM25 baseline."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from matching.lexical import Bm25Index, CharNgramIndex

TEXTS = {
    1: "Lagerarbete på nattskift: plock och pack, truckkörning.",
    2: "Vi söker en barista till vårt café i Södertälje.",
    3: "Städare till kontor, lokalvård på dagtid.",
    4: "Djurskötare till hunddagis, promenader och skötsel av hundar.",
    5: "Kock till restaurangkök, lunchservering.",
}


def built() -> CharNgramIndex:
    index = CharNgramIndex()
    index.build(list(TEXTS), list(TEXTS.values()))
    return index


def test_compounds_meet_through_character_ngrams() -> None:
    index = built()
    ids, scores = index.search(index.vectorise("Jag vill jobba som lagerarbetare"), 3)
    assert ids[0] == 1
    assert scores[0] > 0
    ids, _ = index.search(index.vectorise("lokalvårdare"), 1)
    assert ids.tolist() == [3]


def test_similarities_are_exact_cosines_and_match_search() -> None:
    index = built()
    query = index.vectorise("hundar och djur")
    ids, scores = index.search(query, 5)
    exact = index.similarities(query, ids.tolist())
    np.testing.assert_allclose(exact, scores, rtol=1e-5)
    assert index.similarities(query, [404]).tolist() == [0.0]
    assert 0 < exact[0] <= 1


def test_updates_and_removals_are_searchable_at_once_and_survive_compaction() -> None:
    index = built()
    index.upsert([2], ["Lagerarbetare till centrallager, truckkort krävs."])
    index.upsert([6], ["Lagerarbete i butik"])
    index.remove([1])
    query = index.vectorise("lagerarbete truck")
    ids, _ = index.search(query, 3)
    assert 1 not in ids.tolist()
    assert set(ids[:2].tolist()) == {2, 6}
    assert index.ids() == {2, 3, 4, 5, 6}
    before = index.similarities(query, [2, 6, 3])
    index.compact()
    np.testing.assert_allclose(index.similarities(query, [2, 6, 3]), before, rtol=1e-6)
    assert index.ids() == {2, 3, 4, 5, 6}
    assert len(index) == 5


def test_items_sharing_a_text_share_its_row_and_score_like_items_of_their_own() -> None:
    """Repeated texts are stored once; searches and similarities are per item, ties by id."""
    texts = {i: TEXTS[1 + i % 5] for i in range(10, 40)}  # every text six times
    texts[99] = "Lagerarbete på nattskift: plock och pack, truckkörning!"  # a near-copy
    index = CharNgramIndex()
    index.build(list(texts), list(texts.values()))
    snapshot = index._snapshot
    assert snapshot.matrix.shape[0] == 6  # five distinct texts and the near-copy
    query = index.vectorise("lagerarbetare med truck")
    ids, scores = index.search(query, 7)
    same_text = sorted(i for i, t in texts.items() if t == TEXTS[1])
    assert set(ids.tolist()) <= {*same_text, 99}
    order = sorted(zip(ids.tolist(), scores.tolist(), strict=True), key=lambda p: (-p[1], p[0]))
    assert ids.tolist() == [item_id for item_id, _ in order]  # best first, ties by id
    reference = index.similarities(query, list(texts))
    for position, item_id in enumerate(texts):
        row = snapshot.matrix[snapshot.text_rows[snapshot.row_of[item_id]]]
        assert row.nnz > 0
        np.testing.assert_allclose(reference[position], (row @ query.T).toarray()[0, 0], rtol=1e-6)
    # Updates go to the delta; compaction folds them in and shares rows again.
    index.upsert([50, 51], [TEXTS[3], TEXTS[3]])
    index.remove([10])
    before = index.similarities(query, [*texts, 50, 51])
    found_before = index.search(query, 40)
    index.compact()
    assert index._snapshot.matrix.shape[0] == 6
    np.testing.assert_allclose(index.similarities(query, [*texts, 50, 51]), before, rtol=1e-6)
    found_after = index.search(query, 40)
    assert found_after[0].tolist() == found_before[0].tolist()
    np.testing.assert_allclose(found_after[1], found_before[1], rtol=1e-6)
    assert 10 not in found_after[0].tolist()


def test_an_empty_lane_learns_its_vocabulary_from_the_first_items() -> None:
    index = CharNgramIndex()
    assert index.search(index.vectorise("café"), 5)[0].size == 0
    index.upsert([9], ["Arbetsträning i café"])
    assert index.search(index.vectorise("caféet"), 5)[0].tolist() == [9]


def test_searches_while_updating_see_only_known_ids() -> None:
    index = built()
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        try:
            while not stop.is_set():
                ids, _ = index.search(index.vectorise("lager café städ"), 10)
                assert set(ids.tolist()) <= set(range(1, 300))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for n in range(10, 300):
        index.upsert([n], [f"Lagerarbete nummer {n}"])
        if n % 3 == 0:
            index.remove([n - 1])
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []


def test_bm25_ranks_word_matches_and_ignores_unknown_words() -> None:
    texts = list(TEXTS.values())
    bm25 = Bm25Index(texts)
    scores = bm25.scores("café barista")
    assert int(np.argmax(scores)) == 1
    assert bm25.scores("xyzzy").tolist() == [0.0] * len(texts)
    # Whole words only: BM25 does not see the compound "lagerarbetare" in "lagerarbete".
    assert bm25.scores("lagerarbetare").max() == 0.0


def brute_force(index: CharNgramIndex, query: Any, k: int) -> list[int]:
    """The k best live items by exact similarity, ties by id (what `search` must find)."""
    ids = sorted(index.ids())
    scores = index.similarities(query, ids)
    ranked = sorted(zip(ids, scores.tolist(), strict=True), key=lambda p: (-p[1], p[0]))
    return [item_id for item_id, score in ranked if score > 0][:k]


@pytest.mark.parametrize("k", [1, 3, 8, 25, 200])
def test_search_finds_the_best_live_items_even_when_the_best_texts_lost_their_items(
    k: int,
) -> None:
    """The search ranks distinct texts first and then their items: removing every item of
    the best texts (and updating others into the delta) must not hide the next best."""
    texts = {i: TEXTS[1 + i % 5] + (" extra" if i % 7 == 0 else "") for i in range(100, 160)}
    index = CharNgramIndex()
    index.build(list(texts), list(texts.values()))
    query = index.vectorise("lagerarbetare med truck, plock och pack")
    assert query is not None
    assert query.nnz < 300, "a short query: the search scores it exactly"
    assert index.search(query, k)[0].tolist() == brute_force(index, query, k)
    best_text = texts[brute_force(index, query, 1)[0]]
    index.remove([i for i, t in texts.items() if t == best_text])
    index.upsert([105, 999], ["Lager och truck, plock och pack i nattskift", TEXTS[2]])
    ids, scores = index.search(query, k)
    assert ids.tolist() == brute_force(index, query, k)
    np.testing.assert_allclose(scores, index.similarities(query, ids.tolist()), rtol=1e-5)
    index.compact()
    assert index.search(query, k)[0].tolist() == brute_force(index, query, k)
