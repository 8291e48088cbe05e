"""Each benchmark replaces only its own section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import percentile, write_section


def test_a_section_is_replaced_and_the_others_are_kept(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    write_section("retrieval", "Retrieval", "first figures", path=report)
    write_section("quality", "Quality", "quality figures", path=report)
    write_section("retrieval", "Retrieval", "second figures", path=report)
    text = report.read_text(encoding="utf-8")
    assert "first figures" not in text
    assert text.count("second figures") == 1
    assert "quality figures" in text
    assert text.index("<!-- BEGIN retrieval -->") < text.index("<!-- BEGIN quality -->")


def test_percentiles_interpolate_between_samples() -> None:
    samples = [10.0, 20.0, 30.0, 40.0]
    assert percentile(samples, 50) == 25.0
    assert percentile(samples, 100) == 40.0
    assert percentile(samples, 0) == 10.0
