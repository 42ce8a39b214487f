"""Model evaluation: answers are parsed, scored in both modes, rewarded and summarised; submissions
round-trip through `imagine eval`; the stage refuses bad params and missing checkpoints clearly."""

import json

import pytest
import yaml

from imagine import evaluation as ev
from imagine.answer import format_answer
from imagine.checks.evals import validate_evals
from imagine.domain import get_domain
from imagine.domains.travelplanner.evaluate.files import evaluate_files
from imagine.domains.travelplanner.queries.importer import read_travelplanner
from imagine.domains.travelplanner.queries.schema import query_id, to_travelplanner
from imagine.params import ParamsError, validate_params
from imagine.train.rewards import Reward
from tests.conftest import ROOT, TRAVELPLANNER


@pytest.fixture(scope="module")
def qset(scorers):
    """TravelPlanner train queries whose annotated plan passes strict, as an evaluation set."""
    rows = []
    for row in read_travelplanner(TRAVELPLANNER / "train.jsonl"):
        plan = json.loads(row["annotated_plan"])
        if scorers["strict"].score(to_travelplanner(row), plan).final_pass:
            row.update(idx=len(rows) + 1, split="tp_train", query_id=query_id(row))
            rows.append(row)
        if len(rows) == 3:
            break
    assert len(rows) == 3
    return ev.QuerySet("tp_train", rows, get_domain("travelplanner"), scorers, Reward(scorers["strict"]), scorers["strict"].index)


def _answers(qset):
    good_plan = json.loads(qset.rows[0]["annotated_plan"])
    broken = json.loads(qset.rows[1]["annotated_plan"])[:-1]  # a day missing
    return [
        [ev.Answer(format_answer("I chose the cheapest valid options.", None, good_plan), tokens_out=10)],
        [ev.Answer(format_answer("I think this is fine.", "No errors.", broken), tokens_out=8)],
        [ev.Answer("Sure! Here is a trip: day 1 Paris.", tokens_out=5)],
    ]


def test_scores_parses_and_summarises_answers(qset):
    rows, metrics = ev.score_answers("m", qset, _answers(qset))
    assert len(rows) == 3 * 2  # one row per query and mode
    strict = metrics["strict"]
    assert strict["count"] == 3
    assert strict["delivery_rate"] == pytest.approx(2 / 3)
    assert strict["final_pass_rate"] == pytest.approx(1 / 3)
    assert metrics["format_failure_rate"] == pytest.approx(1 / 3)
    assert metrics["reflection_rate"] == pytest.approx(2 / 3)
    assert metrics["lazy_reflection_rate"] == pytest.approx(1 / 3)  # "No errors." on the broken plan
    by_query = {r["query_id"]: r for r in rows if r["mode"] == "strict"}
    good, lazy, garbage = (by_query[row["query_id"]] for row in qset.rows)
    assert good["final_pass"] and not good["lazy_reflection"]
    assert lazy["lazy_reflection"] and not lazy["final_pass"]
    assert garbage["parse_error"] and garbage["reward"] == -1.0 and not garbage["delivered"]
    assert good["reward"] > lazy["reward"] > garbage["reward"]
    assert metrics["mean_reward"] == pytest.approx((good["reward"] + lazy["reward"] + garbage["reward"]) / 3)
    assert set(strict["per_check"]) >= {"is_not_absent", "valid_cost"}
    import polars as pl

    validate_evals(pl.DataFrame(rows, schema=ev.evals_schema(get_domain("travelplanner"))), source="evals.parquet")


@pytest.mark.parametrize("reflection, lazy", [
    ("No errors.", True),
    ("Errors found: none. I re-checked the route and the total cost; the plan stands.", True),  # the Reflector's words
    ("errors  found:\n none", True),  # any whitespace between the words
    ("No\terrors.", True),
    ("Errors found:\n1. Day 3 is missing.", False),
])
def test_a_reflection_that_found_nothing_over_a_failing_plan_is_lazy(qset, reflection, lazy):
    broken = json.loads(qset.rows[1]["annotated_plan"])[:-1]
    one = ev.QuerySet("one", qset.rows[1:2], qset.domain, qset.checkers, qset.reward, qset.world)
    _, metrics = ev.score_answers("m", one, [[ev.Answer(format_answer("r", reflection, broken), tokens_out=8)]])
    assert metrics["lazy_reflection_rate"] == (1.0 if lazy else 0.0)


def test_submission_round_trips_through_imagine_eval(qset, tmp_path):
    answers = _answers(qset)
    _, metrics = ev.score_answers("m", qset, answers)
    ev.write_text_lines(tmp_path / "q.jsonl", qset.domain.query_lines(qset.rows))
    ev.write_text_lines(tmp_path / "p.jsonl", qset.domain.export(qset.rows, [a[0].text for a in answers]))
    for mode in ("strict", "compat"):
        summary = evaluate_files(tmp_path / "q.jsonl", tmp_path / "p.jsonl", TRAVELPLANNER, mode=mode, progress=False)
        for key in ("delivery_rate", "commonsense_micro", "hard_micro", "final_pass_rate"):
            assert summary[key] == pytest.approx(metrics[mode][key]), (mode, key)


def test_diversity_falls_when_answers_repeat():
    varied = ["plan a b c d e f", "route x y z w v u", "hotel p q r s t"]
    same = ["plan a b c d e f"] * 3
    assert ev.diversity(varied, [[t] for t in varied])["distinct_4gram"] == 1.0
    assert ev.diversity(same, [[t] for t in same])["distinct_4gram"] == pytest.approx(1 / 3)
    assert ev.diversity(same, [same])["within_query"] == 0.0
    assert ev.diversity(varied, [varied])["within_query"] == 1.0
    assert ev.diversity(varied, [[t] for t in varied])["within_query"] is None


def _params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.mark.parametrize("change, message", [
    ({"samples": 3}, "need temperature > 0"),
    ({"model": "x"}, "evaluate.generation.model"),
    ({"backend": "rules"}, "evaluate.generation.backend"),
    ({"batch_size": 0}, "evaluate.generation.batch_size"),
    ({"tempreature": 0.5}, "did you mean temperature"),
])
def test_generation_params_are_checked(change, message):
    params = _params()
    params["evaluate"]["generation"].update(change)
    with pytest.raises(ParamsError, match=message):
        validate_params(params, ["evaluate"])


def test_stage_names_a_missing_checkpoint(tmp_path, capsys):
    from stages.evaluate import main

    params = _params()
    params["evaluate"]["models"] = {"ghost": str(tmp_path / "nowhere")}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "eval"),
                 "--reports", str(tmp_path / "reports")]) == 1
    err = capsys.readouterr().err
    assert "evaluate.models.ghost" in err and "nothing written" in err
    assert not (tmp_path / "eval").exists() and not (tmp_path / "reports").exists()


def test_stage_evaluates_a_checkpoint_on_travelplanner_files(tiny_model, tmp_path):
    """`evaluate.official`: TravelPlanner's own query file and database, no generated split, no teacher."""
    import polars as pl

    from stages.evaluate import main

    params = _params()
    params["evaluate"].update(
        splits=[], traces=None, days=None, limit=2, models={"tiny": str(tiny_model)}, compare=None, cache=str(tmp_path / "cache.sqlite"),
        official={"name": "tp_train", "queries": str(TRAVELPLANNER / "train.jsonl"), "sandbox": str(TRAVELPLANNER)})
    params["evaluate"]["generation"].update(max_tokens=4, dtype="float32", device="cpu")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out, reports, plots = tmp_path / "eval", tmp_path / "reports", tmp_path / "plots"
    argv = ["--params", str(tmp_path / "params.yaml"), "--out", str(out), "--reports", str(reports),
            "--plots", str(plots)]
    assert main(argv) == 0
    report = json.loads((reports / "tiny.json").read_text())
    metrics = report["sets"]["tp_train"]
    assert metrics["queries"] == 2 and metrics["strict"]["delivery_rate"] == 0.0  # 4 tokens cannot hold a plan
    assert metrics["format_failure_rate"] == 1.0 and metrics["mean_reward"] == -1.0
    evals = pl.read_parquet(out / "evals.parquet")
    assert evals.height == 2 * 2 and set(evals["mode"]) == {"strict", "compat"}
    assert len((out / "submissions" / "tiny" / "tp_train.jsonl").read_text().splitlines()) == 2
    assert json.loads((plots / "final_pass_by_level.json").read_text())[0]["model"] == "tiny"
    assert metrics["cache_hits"] == 0
    # a second run asks the model nothing: every answer comes from the generation cache
    assert main(argv) == 0
    assert json.loads((reports / "tiny.json").read_text())["sets"]["tp_train"]["cache_hits"] == 2
