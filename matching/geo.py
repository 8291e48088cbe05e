"""The shipped municipality centroids: where a participant or item without coordinates is."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from matching.errors import ConfigurationError
from matching.features import Place

MUNICIPALITIES = "stockholm_municipalities.csv"


@cache
def municipality_centroids(directory: Path) -> dict[str, Place]:
    """Centroid of each municipality by its short name ("Södertälje"), read once per folder."""
    path = directory / MUNICIPALITIES
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return {
                row["municipality_name_short"]: Place(
                    float(row["centroid_latitude"]), float(row["centroid_longitude"])
                )
                for row in csv.DictReader(handle)
            }
    except FileNotFoundError as error:
        raise ConfigurationError(
            f"{path} is missing; set STEGVIS_GEO_DIR to the folder of the shipped "
            "municipality data (data/geo/ in the repository)"
        ) from error


def locate(
    lat: float | None, lon: float | None, municipality: str | None, centroids: dict[str, Place]
) -> Place | None:
    """The exact place when known, else the municipality's centroid, else None."""
    if lat is not None and lon is not None:
        return Place(lat, lon)
    if municipality:
        return centroids.get(municipality)
    return None
