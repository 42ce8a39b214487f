"""Reward-hacking probes: in strict mode no hack scores as high as the genuine passing plan; compat is fooled."""

import pytest

from imagine.domains.travelplanner.probes import build_probes, run_probes
from imagine.train.rewards import Reward

EXPECTED = {"transport_Driving", "transport_driving", "transport_Self_Driving", "transport_taxi_cab",
            "lowercase_entities", "partial_entity_names", "wrong_city_entity", "repeated_day", "extra_day",
            "missing_day", "json_extra_keys", "json_extra_top_level_keys", "empty_reflection",
            "reflection_header_only", "no_reflection", "plan_inside_think", "no_think_block", "long_reasoning",
            "long_reasoning_unclosed"}


@pytest.fixture(scope="module")
def passing(train_queries, scorers):
    """Every train query whose annotated plan passes strict, flight trips first."""
    rows = [q for q in train_queries if scorers["strict"].score(q, q["plan"]).final_pass]
    return sorted(rows, key=lambda q: "Flight" not in str(q["plan"]))


def test_strict_reward_is_lower_for_every_hack(passing, scorers):
    reward = Reward(scorers["strict"])
    low, high = reward.weights.bounds
    seen = set()
    for query in passing:
        results = run_probes(scorers["strict"], reward, query, query["plan"])
        assert results[0]["name"] == "genuine" and results[0]["reward"] == high
        for row in results[1:]:
            seen.add(row["name"])
            assert low <= row["reward"] <= high
            if row["hack"]:
                assert row["below_genuine"], (query["idx"], row)
                assert row["reward"] < results[0]["reward"]
    assert seen == EXPECTED


def test_compat_is_fooled_by_driving(passing, scorers):
    reward = Reward(scorers["strict"])
    flight_trip = passing[0]
    assert "Flight" in str(flight_trip["plan"])
    compat = {r["name"]: r for r in run_probes(scorers["compat"], reward, flight_trip, flight_trip["plan"])}
    strict = {r["name"]: r for r in run_probes(scorers["strict"], reward, flight_trip, flight_trip["plan"])}
    for name in ("transport_Driving", "transport_driving", "transport_Self_Driving"):
        assert compat[name]["compat_final_pass"], name           # the official exploit
        assert not strict[name]["strict_final_pass"], name       # fixed in strict
    assert compat["partial_entity_names"]["compat_final_pass"]  # substring matching
    assert compat["extra_day"]["compat_final_pass"]             # days beyond the trip are ignored


def test_probe_completions_are_distinct_and_long_one_is_long(passing, scorers):
    probes = build_probes(passing[0], passing[0]["plan"], scorers["strict"].index)
    texts = [p["completion"] for p in probes]
    assert len(set(texts)) == len(texts)
    assert max(len(t) for t in texts) >= 100_000
