"""Extract Stockholm County localities and municipality centroids into the product's CSV files.

Maintenance tool, not run by the product: the product (and the fixture generator) reads the
extracted files committed next to this script. Re-run it when the sources change:

    python data/geo/extract.py --source ../shared/data/geo-se

Inputs: `svenska-stader.csv` (localities with coordinates, Apache-2.0) and
`municipality_county.csv` (municipality and county codes, CC0) from the source folder, plus
`localities_supplement.csv` next to this script (localities the first source lacks; see
NOTICE.md). The output is sorted and formatted the same way every time, so a re-run on the
same input changes nothing.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
COUNTY_CODE = "01"
COUNTY_NAME_SHORT = "Stockholm"
LICENCE_FILE = "LICENSE-svenska-stader-Apache-2.0.txt"

#: Rows whose county matches but whose coordinates lie far outside the municipality
#: (checked by hand against the municipality's other localities and a map).
MISPLACED = {
    ("Tranholmen", "Danderyd"),  # placed near Ekerö, about 20 km south-west of Danderyd
    ("Skarpö", "Vaxholm"),  # placed east of Ljusterö, about 35 km from Vaxholm
}


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    name_short: str


@dataclass(frozen=True)
class Locality:
    name: str
    municipality: Municipality
    latitude: float
    longitude: float
    source: str


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _municipalities(source: Path) -> dict[str, Municipality]:
    return {
        row["municipality_name_short"]: Municipality(
            row["municipality_code"], row["municipality_name"], row["municipality_name_short"]
        )
        for row in _read_csv(source / "municipality_county.csv")
        if row["county_code"] == COUNTY_CODE
    }


def _localities(source: Path, municipalities: dict[str, Municipality]) -> list[Locality]:
    localities: dict[tuple[str, str], Locality] = {}
    for row in _read_csv(source / "svenska-stader.csv"):
        municipality = municipalities.get(row["Municipality"])
        # About 8.5 % of the source rows are geocoded into another county; the county
        # column is what disagrees, so a row counts only when both say Stockholm County.
        if municipality is None or row["County"] != COUNTY_NAME_SHORT:
            continue
        key = (row["Locality"], municipality.name_short)
        if key in MISPLACED:
            continue
        localities[key] = Locality(
            row["Locality"],
            municipality,
            float(row["Latitude"]),
            float(row["Longitude"]),
            "svenska-stader",
        )
    for row in _read_csv(HERE / "localities_supplement.csv"):
        key = (row["locality"], row["municipality"])
        if key in localities:
            raise SystemExit(f"supplement repeats a locality the source already has: {key}")
        localities[key] = Locality(
            row["locality"],
            municipalities[row["municipality"]],
            float(row["latitude"]),
            float(row["longitude"]),
            "supplement",
        )
    return sorted(localities.values(), key=lambda x: (x.municipality.code, x.name))


def _write_csv(name: str, header: list[str], rows: list[list[str]]) -> None:
    with (HERE / name).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def extract(source: Path) -> dict[str, int]:
    municipalities = _municipalities(source)
    localities = _localities(source, municipalities)
    by_municipality: defaultdict[str, list[Locality]] = defaultdict(list)
    for locality in localities:
        by_municipality[locality.municipality.name_short].append(locality)
    missing = sorted(set(municipalities) - set(by_municipality))
    if missing:
        raise SystemExit(f"no locality for {', '.join(missing)}: extend the supplement")

    _write_csv(
        "stockholm_localities.csv",
        ["locality", "municipality", "municipality_code", "latitude", "longitude", "source"],
        [
            [
                x.name,
                x.municipality.name_short,
                x.municipality.code,
                f"{x.latitude:.6f}",
                f"{x.longitude:.6f}",
                x.source,
            ]
            for x in localities
        ],
    )
    rows = []
    for municipality in sorted(municipalities.values(), key=lambda m: m.code):
        members = by_municipality[municipality.name_short]
        rows.append(
            [
                municipality.code,
                municipality.name,
                municipality.name_short,
                f"{sum(x.latitude for x in members) / len(members):.6f}",
                f"{sum(x.longitude for x in members) / len(members):.6f}",
                str(len(members)),
            ]
        )
    _write_csv(
        "stockholm_municipalities.csv",
        [
            "municipality_code",
            "municipality_name",
            "municipality_name_short",
            "centroid_latitude",
            "centroid_longitude",
            "localities",
        ],
        rows,
    )
    shutil.copyfile(source / LICENCE_FILE, HERE / LICENCE_FILE)
    return {
        "municipalities": len(rows),
        "localities": len(localities),
        "from svenska-stader": sum(x.source == "svenska-stader" for x in localities),
        "from the supplement": sum(x.source == "supplement" for x in localities),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, required=True, help="folder of svenska-stader.csv and friends"
    )
    counts = extract(parser.parse_args().source)
    for name, count in counts.items():
        print(f"{name}: {count}")


if __name__ == "__main__":
    main()
