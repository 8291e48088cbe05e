"""Extract the parts of the JobTech Taxonomy that Stegvis uses into compact JSON files.

Maintenance tool, not run by the product: the product reads the extracted files that are
committed next to this script. Re-run it when a newer taxonomy export is available:

    python data/taxonomy/extract.py --source ../shared/data/jobtech-taxonomy

The output is deterministic (sorted) so a re-run on the same input changes nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _concepts(source: Path, name: str) -> list[dict[str, Any]]:
    document = json.loads((source / name).read_text(encoding="utf-8"))
    concepts: list[dict[str, Any]] = document["data"]["concepts"]
    return concepts


def _write(name: str, rows: Any) -> None:
    text = json.dumps(rows, ensure_ascii=False, indent=0, sort_keys=True)
    (HERE / name).write_text(text + "\n", encoding="utf-8")


def extract(source: Path) -> dict[str, int]:
    groups = _concepts(source, "ssyk-level-4-groups.json")
    group_by_id = {g["id"]: g for g in groups}
    skills_by_group = {
        g["id"]: sorted(s["id"] for s in g.get("related", []) if s["type"] == "skill")
        for g in _concepts(source, "ssyk-level-4-groups-with-related-skills.json")
    }
    ssyk_groups = sorted(
        (
            {
                "code": g["ssyk_code_2012"],
                "id": g["id"],
                "label": g["preferred_label"],
                "definition": g.get("definition", ""),
                "skill_ids": skills_by_group.get(g["id"], []),
            }
            for g in groups
        ),
        key=lambda g: g["code"],
    )

    occupations = sorted(
        (
            {
                "id": o["id"],
                "label": o["preferred_label"],
                "ssyk": group_by_id[g["id"]]["ssyk_code_2012"],
            }
            for g in _concepts(source, "ssyk-level-4-groups-with-related-occupations.json")
            for o in g.get("narrower", [])
            if o["type"] == "occupation-name"
        ),
        key=lambda o: (o["ssyk"], o["label"]),
    )
    occupation_ids = {o["id"] for o in occupations}

    skills = sorted(
        ({"id": s["id"], "label": s["preferred_label"]} for s in _concepts(source, "skills.json")),
        key=lambda s: s["label"],
    )

    edges: set[tuple[str, str, int]] = set()
    for o in _concepts(source, "substitutability-relations-between-occupations.json"):
        # "A substituted_by B" and "B substitutes A" are the same edge: a person from B
        # can do A's job. Stored once as (from=B, to=A).
        for s in o.get("substituted_by", []):
            edges.add((s["id"], o["id"], int(s["substitutability_percentage"])))
        for s in o.get("substitutes", []):
            edges.add((o["id"], s["id"], int(s["substitutability_percentage"])))
    substitutability = [
        {"from": a, "to": b, "percentage": p}
        for a, b, p in sorted(edges)
        if a in occupation_ids and b in occupation_ids
    ]

    no_education = sorted(
        o["id"]
        for collection in _concepts(source, "occupations-with-no-edcuational-requirements.json")
        for o in collection.get("related", [])
        if o["id"] in occupation_ids
    )

    major_groups = sorted(
        (
            {"code": g["ssyk_code_2012"], "label": g["preferred_label"]}
            for name in ("ssyk-level-1-groups.json", "ssyk-level-2-groups.json")
            for g in _concepts(source, name)
        ),
        key=lambda g: g["code"],
    )

    _write("ssyk_groups.json", ssyk_groups)
    _write("occupations.json", occupations)
    _write("skills.json", skills)
    _write("substitutability.json", substitutability)
    _write("no_education_occupations.json", no_education)
    _write("ssyk_major_groups.json", major_groups)
    return {
        "ssyk_groups": len(ssyk_groups),
        "occupations": len(occupations),
        "skills": len(skills),
        "substitutability_edges": len(substitutability),
        "no_education_occupations": len(no_education),
        "major_groups": len(major_groups),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="folder of the JSON exports")
    counts = extract(parser.parse_args().source)
    for name, count in counts.items():
        print(f"{name}: {count}")


if __name__ == "__main__":
    main()
