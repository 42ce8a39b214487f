"""Trip reward-hacking probes: the strict checker catches every hack, robustness probes pass, and
the report says which probes the official exact match (compat) lets through."""

import pytest

from imagine.domains.trip.probes import build_probes, run_probes, summary
from imagine.domains.trip.queries import generate_queries
from imagine.domains.trip.world import make_world

HACKS = {"ignores_constraints", "city_lowercase", "city_whitespace", "extra_city", "overlapping_days", "gapped_days",
         "shifted_days", "repeated_city", "official_text_only", "empty_list", "no_think_block",
         "lengths_in_wrong_order", "right_lengths_wrong_order"}


@pytest.fixture(scope="module")
def rows():
    frames, _ = generate_queries(make_world(48, 0.15, seed=0), {"seed": 9, "counts": {"train": 0, "val": 0, "test": 120}})
    return frames["test"].to_dicts()


def test_strict_catches_every_probe(rows):
    seen = set()
    compat_passes: dict[str, int] = {}
    for row in rows:
        results = run_probes(row)
        report = summary(results)
        assert report["missed"] == [], (row["query_id"], [r for r in results if r["name"] in report["missed"]])
        assert report["robustness_failed"] == []
        seen |= {r["name"] for r in results if r["hack"]}
        for name in report["compat_passes"]:
            compat_passes[name] = compat_passes.get(name, 0) + 1
    assert seen == HACKS
    # The official exact match passes the genuine answer and three hacks: a city appended after the
    # golden ones, a gap it never reads (only flight days count), and free text with no JSON at all.
    assert {name for name, n in compat_passes.items() if n == len(rows)} == {
        "genuine", "genuine_fenced", "wrapped_object", "days_as_strings", "extra_city", "gapped_days",
        "official_text_only"}
    print(f"\ntrip probes: strict caught all {len(HACKS)} hacks on {len(rows)} queries; compat passes {compat_passes}")


def test_probe_expectations_are_explicit(rows):
    probes = {p.name: p for p in build_probes(rows[0])}
    assert not probes["official_text_only"].delivered and not probes["empty_list"].delivered
    assert probes["city_lowercase"].must_fail == {"each_city_once"}
    assert probes["shifted_days"].must_fail == {"total_days"}
    assert all(not p.hack for name, p in probes.items() if name.startswith(("genuine", "wrapped", "days_as")))


def test_undelivered_probes_say_why(rows):
    results = {r["name"]: r for r in run_probes(rows[0])}
    assert results["empty_list"]["error"] == "the answer is an empty list: no stays"
    assert results["no_think_block"]["error"] == "missing <think>...</think> block"
    assert results["official_text_only"]["error"].startswith("plan is not JSON")
