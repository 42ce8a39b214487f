"""params.yaml schema: the repo's file validates; bad keys/types/ranges give one clear line; stages stop first."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from imagine.domain import domain_of
from imagine.params import SCHEMA, ParamsError, load_params, validate_params

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def error(mutate, sections) -> str:
    params = copy.deepcopy(PARAMS)
    mutate(params)
    with pytest.raises(ParamsError) as info:
        validate_params(params, sections, domain=domain_of(params))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_repo_params_validate():
    validate_params(PARAMS, list(SCHEMA), domain=domain_of(PARAMS))
    assert load_params(ROOT / "params.yaml", list(SCHEMA), domain_of) == PARAMS


def test_unknown_sections_are_ignored_unless_asked():
    params = {**copy.deepcopy(PARAMS), "sft": {"anything": [1, 2]}, "grpo": {"lr": "x"}}
    validate_params(params, ["queries", "traces"], domain=domain_of(params))
    with pytest.raises(ValueError, match="no declared params schema for section 'sft'"):
        validate_params(params, ["sft"], domain=domain_of(params))


@pytest.mark.parametrize("mutate, sections, expected", [
    (lambda p: p["queries"]["counts"].__setitem__("train", -3), ["queries"],
     "params.yaml: queries.counts.train: expected a non-negative integer, got -3"),
    (lambda p: p["queries"]["counts"].__setitem__("train", "many"), ["queries"],
     "params.yaml: queries.counts.train: expected a non-negative integer, got 'many'"),
    (lambda p: p["queries"]["counts"].__setitem__("train", 2.5), ["queries"],
     "params.yaml: queries.counts.train: expected a non-negative integer, got 2.5"),
    (lambda p: p["traces"].__setitem__("rolse", p["traces"].pop("roles")), ["traces"],
     "params.yaml: unknown key traces.rolse (did you mean roles?)"),
    (lambda p: p["traces"]["roles"]["judge"].__setitem__("miss_rate", 1.5), ["traces"],
     "params.yaml: traces.roles.judge.miss_rate: expected a number in [0, 1], got 1.5"),
    (lambda p: p["traces"]["roles"]["reasoner"].__setitem__("backend", "gpt"), ["traces"],
     "params.yaml: traces.roles.reasoner.backend: expected one of 'rules', 'transformers', 'openai', 'vllm', "
     "got 'gpt'"),
    (lambda p: p["traces"]["roles"]["reasoner"]["mistakes"].__setitem__("missing_dya", 0.1), ["traces"],
     "params.yaml: unknown key traces.roles.reasoner.mistakes.missing_dya (did you mean missing_day?)"),
    (lambda p: p["traces"]["roles"]["reasoner"].__setitem__("base_url", "http://x"), ["traces"],
     "params.yaml: unknown key traces.roles.reasoner.base_url (known: "),
    (lambda p: p["traces"]["roles"].pop("reflector"), ["traces"],
     "params.yaml: traces.roles.reflector: required key is missing"),
    (lambda p: p["traces"]["roles"]["reasoner"].__setitem__("api_key", "sk-1"), ["traces"],
     "params.yaml: traces.roles.reasoner.api_key: keys never go in params"),
    (lambda p: p["traces"].__setitem__("limit", True), ["traces"],
     "params.yaml: traces.limit: expected a non-negative integer or null, got true"),
    (lambda p: p["filter"].__setitem__("max_tokens", 0), ["filter"],
     "params.yaml: filter.max_tokens: expected a positive integer or null, got 0"),
    (lambda p: p["filter"]["grpo"].__setitem__("source", "all"), ["filter"],
     "params.yaml: filter.grpo.source: expected one of 'train_queries', 'kept_traces', got 'all'"),
    (lambda p: p["traces"]["reference"].__setitem__("hotels", -1), ["filter", "traces.reference"],
     "params.yaml: traces.reference.hotels: expected a non-negative integer, got -1"),
    (lambda p: p["queries"].__setitem__("budget_slack", [0.5, 0.1]), ["queries"],
     "params.yaml: queries.budget_slack: expected low <= high, got [0.5, 0.1]"),
    (lambda p: p["queries"]["people"].__setitem__("medium", [2, 9]), ["queries"],
     "params.yaml: queries.people.medium[1]: expected an integer in [1, 8], got 9"),
    (lambda p: p["queries"].__setitem__("days", {4: 1}), ["queries"],
     "params.yaml: queries.days: key 4: expected a trip length among 3, 5, 7"),
    (lambda p: p["queries"].__setitem__("templates", ["poem"]), ["queries"],
     "params.yaml: queries.templates[0]: expected one of 'request', 'statement', 'imperative', got 'poem'"),
    (lambda p: p["sandbox"].__setitem__("source", "osm"), ["sandbox"],
     "params.yaml: sandbox.source: expected one of 'travelplanner', 'synthetic', got 'osm'"),
    (lambda p: p["sandbox"]["flights"].__setitem__("start", "March"), ["sandbox"],
     "params.yaml: sandbox.flights.start: expected an ISO date (YYYY-MM-DD), got 'March'"),
    (lambda p: p["sandbox"]["flights"].__setitem__("route_fraction", 2), ["sandbox"],
     "params.yaml: sandbox.flights.route_fraction: expected a number in [0, 1], got 2"),
    (lambda p: p["sandbox"]["synthetic"].__setitem__("multi_city_states", 20), ["sandbox"],
     "params.yaml: sandbox.synthetic.multi_city_states: expected at most states (12), got 20"),
    (lambda p: p["base_model"].__setitem__("dtype", "int8"), ["base_model"],
     "params.yaml: base_model.dtype: expected one of 'float32', 'bfloat16', 'float16', got 'int8'"),
    (lambda p: p["base_model"].pop("gguf_file"), ["base_model"],
     "params.yaml: base_model.gguf_file: required key is missing (or set local_path)"),
    (lambda p: p["base_model"].__setitem__("wheel_sha256", "abc"), ["base_model"],
     "params.yaml: base_model.wheel_sha256: expected a sha256 hex digest (64 hex digits) or null, got 'abc'"),
])
def test_bad_values_give_one_clear_line(mutate, sections, expected):
    assert error(mutate, sections).startswith(expected)


def test_local_path_makes_package_optional():
    params = copy.deepcopy(PARAMS)
    params["base_model"] = {"local_path": "some/folder", "dtype": "float32"}
    validate_params(params, ["base_model"], domain=domain_of(params))


def test_unreadable_file_is_a_params_error(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("queries: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad, ["queries"], domain_of)
    with pytest.raises(ParamsError, match="cannot be read"):
        load_params(tmp_path / "missing.yaml", ["queries"], domain_of)


@pytest.mark.parametrize("stage, section, key, value, expected", [
    ("queries", "queries", "counts", {"train": -3},
     "queries.counts.train: expected a non-negative integer, got -3"),
    ("sandbox", "sandbox", "drop_orphan", True, "unknown key sandbox.drop_orphan (did you mean drop_orphans?)"),
])
def test_stage_stops_on_bad_params_and_writes_nothing(tmp_path, stage, section, key, value, expected):
    params = copy.deepcopy(PARAMS)
    params[section][key] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out, metrics = tmp_path / "out", tmp_path / "metrics.json"
    result = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py"), "--params",
                             str(tmp_path / "params.yaml"), "--out", str(out), "--metrics", str(metrics)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert expected in result.stderr
    assert f"{stage}: nothing written" in result.stderr
    assert not out.exists() and not metrics.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "params.yaml"]
