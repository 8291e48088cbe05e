"""The shipped taxonomy extract loads and its relations are consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from matching.errors import ConfigurationError
from matching.settings import Settings
from matching.taxonomy import Taxonomy, load_taxonomy


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(Settings().taxonomy_dir)


def test_sizes_match_the_source(taxonomy: Taxonomy) -> None:
    assert len(taxonomy.groups) == 400
    assert len(taxonomy.occupations) == 2412
    assert len(taxonomy.skills) >= 6600
    assert len(taxonomy.no_education_occupations) == 112


def test_every_occupation_belongs_to_a_known_group(taxonomy: Taxonomy) -> None:
    assert all(o.ssyk in taxonomy.groups for o in taxonomy.occupations.values())
    assert sum(len(v) for v in taxonomy.occupations_by_group.values()) == 2412


def test_group_skills_and_substitutability(taxonomy: Taxonomy) -> None:
    warehouse = next(
        o for o in taxonomy.occupations.values() if o.label == "Lagerarbetare/Terminalarbetare"
    )
    skills = {s.label for s in taxonomy.group_skills(warehouse.ssyk)}
    assert "Orderplockning" in skills
    substitutes = taxonomy.can_substitute_for[warehouse.id]
    assert substitutes, "a warehouse worker can do some other jobs"
    assert set(substitutes.values()) <= {25, 75}
    other = next(iter(substitutes))
    assert taxonomy.substitutability(warehouse.id, other) == substitutes[other]
    assert taxonomy.substitutability(warehouse.id, "no-such-id") == 0


def test_loaded_once_per_folder(taxonomy: Taxonomy) -> None:
    assert load_taxonomy(Settings().taxonomy_dir) is taxonomy


def test_missing_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="STEGVIS_TAXONOMY_DIR"):
        load_taxonomy(tmp_path)
