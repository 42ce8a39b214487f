"""The evaluator: real TravelPlanner data, targeted mutations, the official evaluator's defects."""

import copy
import json

import pytest

from imagine.domains.travelplanner.evaluate import COMMONSENSE_CHECKS, HARD_CHECKS, summarize, normalize_query
from imagine.domains.travelplanner.evaluate.scorer import CONTENT_CHECKS
from imagine.domains.travelplanner.evaluate.compat import CRASH
from imagine.domains.travelplanner.evaluate.files import InputError, evaluate_files
from imagine.domains.travelplanner.sandbox import CUISINES
from tests.mutations import MUTATIONS

GATES = ("is_not_absent", "is_valid_information_in_sandbox")


def test_every_annotated_train_plan_passes_compat(train_queries, scorers):
    # The README of the data: every annotated plan passes the official evaluation code.
    for query in train_queries:
        verdict = scorers["compat"].score(query, query["plan"])
        assert verdict.final_pass, (query["idx"], verdict.reasons)


def test_strict_finds_the_one_annotation_error_compat_misses(train_queries, scorers):
    failing = {q["idx"]: scorers["strict"].score(q, q["plan"]) for q in train_queries}
    failing = {idx: v for idx, v in failing.items() if not v.final_pass}
    # Query 42 visits a San Angelo museum on a day spent in San Antonio.
    assert list(failing) == [42]
    assert [k for k, v in failing[42].commonsense.items() if v is False] == ["is_valid_information_in_current_city"]


@pytest.fixture(scope="module")
def reference_pairs(official_sandbox, scorers):
    """The solver's certified queries with their reference plans (generated on the official data)."""
    from imagine.domains.travelplanner.queries import BuildConfig, build_queries, to_travelplanner

    frames, _ = build_queries(official_sandbox, BuildConfig.from_params(
        {"seed": 7, "counts": {"train": 0, "val": 0, "test": 45}, "import": []}))
    return [(to_travelplanner(row), json.loads(row["reference_plan"])) for row in frames["test"].iter_rows(named=True)]


def test_every_reference_plan_passes_strict_and_compat(reference_pairs, scorers):
    assert len(reference_pairs) == 45
    for query, plan in reference_pairs:
        for mode in ("strict", "compat"):
            verdict = scorers[mode].score(query, plan)
            assert verdict.final_pass, (mode, verdict.reasons)


@pytest.mark.parametrize("source", ["solver", "annotated"])
@pytest.mark.parametrize("check", list(MUTATIONS))
def test_mutation_flips_exactly_its_check(check, source, train_queries, reference_pairs, scorers):
    scorer, mutate = scorers["strict"], MUTATIONS[check]
    if source == "solver":
        pairs = reference_pairs
    else:
        pairs = [(q, q["plan"]) for q in train_queries if scorer.score(q, q["plan"]).final_pass]
    applied = 0
    for query, plan in pairs:
        mutated = mutate(query, plan, scorer.index)
        if mutated is None:
            continue
        applied += 1
        # Commonsense mutations raise the budget: compare with the original at that budget.
        baseline = {**query, "budget": mutated[0]["budget"]} if check in COMMONSENSE_CHECKS else query
        before, after = scorer.score(baseline, plan), scorer.score(*mutated)
        flipped = {k for k in COMMONSENSE_CHECKS + HARD_CHECKS
                   if {**before.commonsense, **before.hard}[k] != {**after.commonsense, **after.hard}[k]}
        expected = {check}
        if check in GATES:  # hard checks are only scored on complete, in-sandbox plans
            expected |= {k for k in HARD_CHECKS if before.hard[k] is not None}
            assert all(v is None for v in after.hard.values())
        if check == "is_not_absent":  # ... and the content checks' passes only on complete ones
            expected |= set(CONTENT_CHECKS)
            assert all(after.commonsense[k] is None for k in CONTENT_CHECKS), after.reasons
        assert after.commonsense.get(check, after.hard.get(check)) is False, (query, after.reasons)
        assert flipped == expected, (query, flipped, after.reasons)
        assert not after.final_pass
    assert applied >= 3, f"the mutation for {check} applied to only {applied} plans"


# --- compat reproduces the official evaluator, defects included; strict fixes them ----------------
# Each test names the function of the official repository (OSU-NLP-Group/TravelPlanner, its
# evaluation/ folder, the code `eval.py` runs) whose behaviour it pins down.


def _by_idx(train_queries, idx):
    query = copy.deepcopy(next(q for q in train_queries if q["idx"] == idx))
    return query, query.pop("plan")


def _verdicts(scorers, query, plan):
    return scorers["compat"].score(query, plan), scorers["strict"].score(query, plan)


def _first_flight_query(train_queries):
    return next(q["idx"] for q in train_queries if q["plan"][0]["transportation"].startswith("Flight Number"))


def test_defect_flight_date_not_checked(train_queries, scorers):
    """evaluation/commonsense_constraint.py, is_valid_information_in_sandbox: a flight is looked up
    by Flight Number, OriginCityName and DestCityName; FlightDate is never compared."""
    query, plan = _by_idx(train_queries, _first_flight_query(train_queries))
    query["date"] = ["2022-04-0%d" % (i + 1) for i in range(query["days"])]  # same flights, other dates
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.final_pass
    assert strict.commonsense["is_valid_information_in_sandbox"] is False
    assert "flight" in strict.reasons["is_valid_information_in_sandbox"]


def test_defect_flight_price_is_the_numbers_first_row(train_queries, official_sandbox):
    """evaluation/hard_constraint.py, get_total_cost: the price is `Price.values[0]` of the rows with
    that Flight Number, whatever their route or date; and the Flights loader (imported by both
    evaluation files) drops rows with an empty cell (`dropna()`)."""
    import polars as pl

    from imagine.domains.travelplanner.evaluate import Scorer
    from imagine.domains.travelplanner.evaluate.index import SandboxIndex
    from imagine.domains.travelplanner.sandbox import Sandbox

    query, plan = _by_idx(train_queries, _first_flight_query(train_queries))
    number = plan[0]["transportation"].split("Flight Number: ")[1].split(",")[0]
    flights = official_sandbox["flights"]
    real = flights.filter(pl.col("flight_number") == number)
    ghosts = pl.concat([real.with_columns(pl.lit(None, pl.Int64).alias("price")),  # an empty cell: dropped
                        real.with_columns(origin=pl.lit("Nowhere"), price=real["price"] + 1000)])
    index = SandboxIndex(Sandbox({**official_sandbox.tables, "flights": pl.concat([ghosts, flights])}, {}))
    compat, strict = Scorer(index, "compat"), Scorer(index, "strict")
    people = query["people_number"]
    assert compat.score(query, plan).cost == pytest.approx(strict.score(query, plan).cost + 1000 * people)
    assert strict.score(query, plan).cost == pytest.approx(Scorer(official_sandbox, "strict").score(query, plan).cost)


def test_defect_entity_names_match_by_substring(train_queries, scorers):
    """evaluation/commonsense_constraint.py, is_valid_information_in_sandbox (and every lookup of
    hard_constraint.py): `Name.str.contains(re.escape(name)) & (City == city)`."""
    query, plan = _by_idx(train_queries, 1)
    name, city = plan[1]["breakfast"].rsplit(", ", 1)
    plan[1]["breakfast"] = f"{name[:4]}, {city}"  # 'Dial A Cake' -> 'Dial'
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.commonsense["is_valid_information_in_sandbox"] is True
    assert strict.commonsense["is_valid_information_in_sandbox"] is False


def test_defect_rows_with_an_empty_cell_do_not_exist(train_queries, scorers):
    """The Accommodations/Restaurants/Attractions loaders both evaluation files use call `dropna()`:
    a hotel with no house rules is not in the official sandbox (strict books it)."""
    incomplete = {r["city"]: r for r in scorers["strict"].index.rows("accommodations") if not r["complete"]}
    query, plan = next((q, p) for q, p in (_by_idx(train_queries, t["idx"]) for t in train_queries)
                       if p[1]["current_city"] in incomplete)
    hotel = incomplete[plan[1]["current_city"]]
    plan[1]["accommodation"] = f"{hotel['name']}, {hotel['city']}"
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.commonsense["is_valid_information_in_sandbox"] is False
    assert strict.commonsense["is_valid_information_in_sandbox"] is True


def test_defect_current_city_check_is_weak(train_queries, scorers):
    """evaluation/commonsense_constraint.py, is_valid_information_in_current_city: on a non-travel
    day `final_city_list` is the city *string*, so the loop tests its characters: the real annotated
    plan 42 has a San Angelo museum on a San Antonio day and passes."""
    query, plan = _by_idx(train_queries, 42)
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.commonsense["is_valid_information_in_current_city"] is True
    assert strict.commonsense["is_valid_information_in_current_city"] is False


def test_defect_three_day_destination_not_checked(train_queries, scorers):
    """evaluation/commonsense_constraint.py, is_reasonable_visiting_city: the city is compared with
    the destination only when `question['days'] > 3`."""
    query, plan = _by_idx(train_queries, 1)
    query["dest"] = "Denver"  # the plan still goes to Rockford
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.final_pass
    assert strict.commonsense["is_reasonable_visiting_city"] is False


def test_defect_driving_spelling_dodges_the_conflict_check(train_queries, scorers):
    """evaluation/commonsense_constraint.py, transportation_match / is_valid_transportation: modes
    are found by the substrings 'taxi', 'self-driving', 'flight', so 'Driving' has no mode: no
    conflict with a flight, not looked up (is_valid_information_in_sandbox), not priced
    (hard_constraint.py, get_total_cost), not banned (hard_constraint.py, is_valid_transportation)."""
    query, plan = _by_idx(train_queries, _first_flight_query(train_queries))
    last = plan[query["days"] - 1]
    origin, dest = last["current_city"][5:].split(" to ")
    last["transportation"] = f"Driving, from {origin} to {dest}, duration: 1 hours, distance: 100 km, cost: 5"
    query["local_constraint"]["transportation"] = "no self-driving"
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.final_pass
    assert strict.commonsense["is_valid_transportation"] is False


def test_defect_hard_transport_check_is_case_sensitive(train_queries, scorers):
    """evaluation/hard_constraint.py, is_valid_transportation: `'Self-driving' in value`, so a
    lower-case 'self-driving' leg passes 'no self-driving'."""
    query, plan = _by_idx(train_queries, 2)  # self-driving both ways
    for day in plan:
        day["transportation"] = day["transportation"].replace("Self-driving", "self-driving")
    query["local_constraint"]["transportation"] = "no self-driving"
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.hard["valid_transportation"] is True
    assert strict.hard["valid_transportation"] is False


def test_defect_misspelt_flight_crashes_official_but_not_us(train_queries, scorers):
    """evaluation/commonsense_constraint.py, is_valid_information_in_sandbox: 'flight number' is
    found case-insensitively, then the number is cut with `value.split('Flight Number: ')[1]`, an
    IndexError for any other spelling."""
    query, plan = _by_idx(train_queries, _first_flight_query(train_queries))
    plan[0]["transportation"] = plan[0]["transportation"].replace("Flight Number:", "Flight number:")
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.commonsense["is_valid_information_in_sandbox"] is False
    assert CRASH in compat.reasons["is_valid_information_in_sandbox"]
    assert strict.final_pass  # the spelling is read; the flight exists on that date


def test_defect_unreadable_ground_route_is_looked_up_as_dashes(train_queries, scorers):
    """evaluation/commonsense_constraint.py, is_valid_information_in_sandbox: a taxi or self-driving
    leg without 'from A to B' (in it or in current_city) hits `except TypeError` and looks up the
    route '-' to '-': the check fails, the evaluator does not crash."""
    query, plan = _by_idx(train_queries, 1)
    plan[1]["transportation"] = "Taxi"
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.commonsense["is_valid_information_in_sandbox"] is False
    assert compat.reasons["is_valid_information_in_sandbox"] == "day 2 taxi is not in the sandbox"
    assert strict.commonsense["is_valid_information_in_current_city"] is False


def _stay_forbidding(train_queries, scorers, rule):
    """A train query and its plan whose first stay says 'No <rule>'."""
    for query in train_queries:
        query, plan = _by_idx(train_queries, query["idx"])
        rows = [scorers["strict"].index.exact("accommodations", *day["accommodation"].rsplit(", ", 1))
                for day in plan if day["accommodation"] != "-"]
        if rows and rows[0] and f"No {rule}" in (rows[0]["house_rules"] or ""):
            return query, plan
    raise AssertionError(f"test premise: some annotated plan stays where {rule} are forbidden")


@pytest.mark.parametrize("rule", ["parties", "smoking", "children under 10", "visitors", "pets"])
def test_every_house_rule_is_checked_in_both_modes(rule, train_queries, scorers):
    """evaluation/hard_constraint.py, is_valid_room_rule: each of the five rules, `parties` included,
    fails when `'No <rule>' in house_rules` of the first matching accommodation row. (The misspelt
    'parities' is in utils/func.py, judge_valid_room_rule, which the evaluation does not use.)"""
    query, plan = _stay_forbidding(train_queries, scorers, rule)
    query["local_constraint"]["house rule"] = rule
    for verdict in _verdicts(scorers, query, plan):
        assert verdict.hard["valid_room_rule"] is False
        assert verdict.reasons["valid_room_rule"].endswith(f"accommodation forbids {rule}")


def test_defect_meal_in_origin_skips_the_rest_of_the_day_for_cuisine(train_queries, scorers):
    """evaluation/hard_constraint.py, is_valid_cuisine: a meal in the origin city `continue`s the
    loop over days, so that day's later meals never count."""
    query, plan = _by_idx(train_queries, 1)  # St. Petersburg -> Rockford
    index = scorers["strict"].index
    dinner = index.exact("restaurants", *plan[0]["dinner"].rsplit(", ", 1))
    others = " ".join(index.exact("restaurants", *day[m].rsplit(", ", 1))["cuisines"]
                      for day in plan[1:] for m in ("breakfast", "lunch", "dinner") if day[m] != "-")
    only_day_one = [c for c in CUISINES if c in dinner["cuisines"] and c not in others]
    assert only_day_one, "test premise: day 1's dinner serves a cuisine no other meal does"
    origin_restaurant = next(r for r in index.rows("restaurants") if r["city"] == query["org"] and r["complete"])
    plan[0]["breakfast"] = f"{origin_restaurant['name']}, {query['org']}"
    query["local_constraint"]["cuisine"] = only_day_one[:1]
    query["budget"] = 10**6
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.hard["valid_cuisine"] is False
    assert strict.hard["valid_cuisine"] is True


def test_defect_repeated_cuisine_crashes_official(train_queries, scorers):
    """evaluation/hard_constraint.py, is_valid_cuisine: when every cuisine is served but the query
    names one twice, `len(cuisine_set) != len(cuisine)` and no cuisine is missing, so the function
    returns None; evaluation/eval.py then indexes that None (`statistics`, the final-pass loop)."""
    query, plan = _by_idx(train_queries, 1)
    served = scorers["strict"].index.exact("restaurants", *plan[1]["lunch"].rsplit(", ", 1))["cuisines"]
    cuisine = next(c for c in CUISINES if c in served)
    query["local_constraint"]["cuisine"] = [cuisine, cuisine]
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.hard["valid_cuisine"] is False and CRASH in compat.reasons["valid_cuisine"]
    assert strict.hard["valid_cuisine"] is True


def test_defect_attraction_without_trailing_semicolon_is_ignored(train_queries, scorers):
    """evaluation/commonsense_constraint.py, is_valid_attractions, is_valid_information_in_current_city
    and is_valid_information_in_sandbox all read `attraction.split(';')[:-1]`."""
    query, plan = _by_idx(train_queries, 1)
    plan[1]["attraction"] += "Nowhere Museum, Rockford"
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.final_pass
    assert strict.commonsense["is_valid_information_in_sandbox"] is False


def test_defect_days_beyond_the_trip_are_ignored(train_queries, scorers):
    """Every function of evaluation/commonsense_constraint.py and hard_constraint.py loops over
    `range(min(question['days'], len(tested_data)))`: an extra day is never read."""
    query, plan = _by_idx(train_queries, 1)
    plan.append(dict(plan[-1], days=4))
    compat, strict = _verdicts(scorers, query, plan)
    assert compat.final_pass
    assert strict.commonsense["is_not_absent"] is False


# --- robustness -----------------------------------------------------------------------------------

GARBAGE_PLANS = [
    None, [], "", "a plan", 42, {"days": 1}, [None], [1, 2, 3], [[]], [{}], [{"days": 1}],
    [{"current_city": None, "transportation": None, "breakfast": None, "lunch": None, "dinner": None,
      "attraction": None, "accommodation": None}],
    [{"current_city": ["Rockford"], "transportation": {"a": 1}, "breakfast": 3, "lunch": True,
      "dinner": "-", "attraction": "-", "accommodation": "-"}],
    [{"current_city": "from  to ", "transportation": "Flight Number: , from  to ,", "breakfast": ",",
      "lunch": ",,,", "dinner": "(", "attraction": ";;;", "accommodation": ", ("}] * 3,
    [{"current_city": "from St. Petersburg to", "transportation": "Flight Number: F0, from X to",
      "breakfast": "x" * 10000, "lunch": "-", "dinner": "-", "attraction": "-", "accommodation": "-"}] * 3,
]


@pytest.mark.parametrize("mode", ["compat", "strict"])
@pytest.mark.parametrize("plan", GARBAGE_PLANS, ids=range(len(GARBAGE_PLANS)))
def test_garbage_plans_fail_without_crashing(mode, plan, train_queries, scorers):
    query, _ = _by_idx(train_queries, 1)
    verdict = scorers[mode].score(query, plan)
    assert verdict.final_pass is False
    assert any(v is False for v in verdict.commonsense.values())
    assert verdict.reasons


def test_metrics_on_known_verdicts(train_queries, scorers):
    pairs = []
    for query in train_queries[:10]:
        query, plan = _by_idx(train_queries, query["idx"])
        pairs.append((normalize_query(query), scorers["strict"].score(query, plan if query["idx"] % 2 else None)))
    summary = summarize(pairs)
    assert summary["count"] == 10
    assert summary["delivery_rate"] == 0.5
    assert summary["final_pass_rate"] == 0.5
    assert summary["commonsense_micro"] == 0.5 and summary["commonsense_macro"] == 0.5
    assert summary["hard_micro"] == 0.5  # train 1..10 are easy: the budget is the only hard check
    assert summary["per_level"]["easy"]["count"] == 10 and summary["per_level"]["hard"] == {"count": 0}


def test_evaluate_files_writes_one_verdict_per_query(tmp_path, train_queries):
    from tests.conftest import TRAVELPLANNER

    queries = tmp_path / "q.jsonl"
    plans = tmp_path / "p.jsonl"
    queries.write_text("".join(json.dumps({k: v for k, v in q.items() if k != "plan"}) + "\n" for q in train_queries))
    plans.write_text("".join(json.dumps({"idx": q["idx"], "query": q["query"], "plan": q["plan"]}) + "\n"
                             for q in train_queries[:40]))
    out = tmp_path / "v.jsonl"
    summary = evaluate_files(queries, plans, TRAVELPLANNER, "compat", out, progress=False)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["idx"] for line in lines] == list(range(1, 46))
    assert summary["delivery_rate"] == pytest.approx(40 / 45)
    assert summary["final_pass_rate"] == pytest.approx(40 / 45)
    assert lines[44]["error"] == "no plan delivered"

    plans.write_text('{"idx": 1, "plan": []}\n{"idx": 99, "plan": []}\n')
    with pytest.raises(InputError, match=r"p.jsonl: line 2: field 'idx' is 99"):
        evaluate_files(queries, plans, TRAVELPLANNER, "strict", progress=False)
    queries.write_text('{"org": "A"}\n')
    with pytest.raises(InputError, match=r"q.jsonl: line 1: query field 'dest' is missing"):
        evaluate_files(queries, plans, TRAVELPLANNER, "strict", progress=False)


def test_leaderboard_day_keys_on_an_official_layout_folder(tmp_path, train_queries):
    """Leaderboard submissions number days with `day`, the evaluation code with `days` (TravelPlanner
    issue #20): both are read, and the summary and the CLI say which was found."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import TRAVELPLANNER

    database = tmp_path / "database"
    shutil.copytree(TRAVELPLANNER, database, ignore=shutil.ignore_patterns("train.jsonl", ".imagine_cache"))
    queries, plans, out = tmp_path / "q.jsonl", tmp_path / "p.jsonl", tmp_path / "v.jsonl"
    queries.write_text("".join(json.dumps({k: v for k, v in q.items() if k != "plan"}) + "\n" for q in train_queries))
    submitted = [[{("day" if k == "days" else k): v for k, v in day.items()} for day in q["plan"]] for q in train_queries]
    submitted[0][1]["day"] = 7  # misnumbered: strict reads the number under `day` too
    plans.write_text("".join(json.dumps({"idx": q["idx"], "query": q["query"], "plan": plan}) + "\n"
                             for q, plan in zip(train_queries, submitted)))
    for mode, passed in (("compat", 45), ("strict", 43)):  # strict: plan 42's museum, plan 1's numbering
        summary = evaluate_files(queries, plans, database, mode, out, progress=False)
        assert summary["day_keys"] == {"days": 0, "day": 45}
        assert summary["final_pass_rate"] == pytest.approx(passed / 45)
    first = json.loads(out.read_text().splitlines()[0])
    assert first["reasons"]["is_not_absent"] == "day 2 is numbered 7"

    done = subprocess.run([sys.executable, "-m", "imagine.cli", "eval", "--queries", str(queries), "--plans", str(plans),
                           "--sandbox", str(database), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "day numbers read from 'day' in 45 plans" in done.stdout


def test_imagine_eval_cli(tmp_path, train_queries):
    import subprocess
    import sys

    from tests.conftest import TRAVELPLANNER

    queries, plans, out = tmp_path / "q.jsonl", tmp_path / "p.jsonl", tmp_path / "v.jsonl"
    queries.write_text("".join(json.dumps({k: v for k, v in q.items() if k != "plan"}) + "\n" for q in train_queries))
    plans.write_text("".join(json.dumps({"idx": q["idx"], "query": q["query"], "plan": q["plan"]}) + "\n"
                             for q in train_queries))
    command = [sys.executable, "-m", "imagine.cli", "eval", "--queries", str(queries), "--plans", str(plans),
               "--sandbox", str(TRAVELPLANNER), "--mode", "compat", "--out", str(out),
               "--summary", str(tmp_path / "s.json")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "final_pass_rate" in done.stdout
    assert json.loads((tmp_path / "s.json").read_text())["final_pass_rate"] == 1.0
    assert len(out.read_text().splitlines()) == 45

    plans.write_text("not json\n")
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("p.jsonl: line 1: not JSON (Expecting value at column 1)")
    assert "Traceback" not in done.stderr
