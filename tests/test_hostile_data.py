"""Corrupt or hostile input files are stopped by the GX suites, with a message naming the file, the
column and the expectation; the stages that read them validate first and write nothing.

Every dataset a stage reads: the queries splits (read by `traces`, `filter`, `evaluate`), the MAS
turns and traces (read by `filter`), the SFT samples (`sft`) and the GRPO prompts (`grpo`). Each is
built for real (queries builder on the vendored TravelPlanner sandbox, the rules teacher, the filter),
then mutated: a required column dropped, a column of the wrong type, NaN in a float column, a 5 MB
string, a wrong date (no such calendar day, another format, or not `days` dates). The datasets with no
date (turns, traces, sft) get no date mutation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from imagine.domain import get_domain
import pytest
import yaml

from imagine.checks import MAX_TEXT, DataValidationError
from imagine.checks.filtered import validate_grpo, validate_sft
from imagine.checks.traces import validate_traces, validate_turns
from imagine.domains.travelplanner.checks.queries import validate_queries
from tests.conftest import ROOT, TRAVELPLANNER

HUGE = "x" * 5_000_000  # 5 MB of text, five times MAX_TEXT
NULL_CHECK = "expect_column_values_to_be_null"  # what a row rule runs on its rule:<name> column
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
FILES = {"queries": "queries/train.parquet", "turns": "traces/turns.parquet", "traces": "traces/traces.parquet",
         "sft": "filtered/sft.parquet", "grpo": "filtered/grpo_prompts.parquet"}


@pytest.fixture(scope="module")
def data(official_sandbox, scorers, tmp_path_factory) -> Path:
    """A small data folder made the way the stages make it: queries -> MAS traces -> filtered."""
    from imagine.domains.travelplanner.prompts import prompt_builder
    from imagine.domains.travelplanner.queries import BuildConfig, build_queries
    from imagine.filtering import FilterConfig, filter_traces
    from imagine.llm import CallCache
    from imagine.mas.protocol import Protocol, role_configs
    from imagine.mas.schema import TURNS, frame, traces_schema

    folder = tmp_path_factory.mktemp("data")
    for sub in ("queries", "traces", "filtered"):
        (folder / sub).mkdir()
    frames, _ = build_queries(official_sandbox, BuildConfig.from_params(
        {"seed": 3, "counts": {"train": 9, "val": 3}, "import": []}))
    for split, split_frame in frames.items():
        split_frame.write_parquet(folder / "queries" / f"{split}.parquet")
    index = scorers["strict"].index
    rules = {"backend": "rules"}
    cache = CallCache(folder / "calls.sqlite")
    rows = [row for split in ("train", "val") for row in frames[split].iter_rows(named=True)]
    result = Protocol(role_configs({"reasoner": rules, "judge": rules, "reflector": rules}), get_domain("travelplanner"), index, cache=cache,
                      progress=False).run(rows)
    cache.close()
    turns, traces = frame(result.turns, TURNS), frame(result.traces, traces_schema(get_domain("travelplanner")))
    turns.write_parquet(folder / FILES["turns"])
    traces.write_parquet(folder / FILES["traces"])
    queries = pl.concat([frames["train"], frames["val"]])
    filtered = filter_traces(traces, turns, queries, FilterConfig(max_tokens=None), get_domain("travelplanner"),
                             prompt_builder=prompt_builder(index, None))
    assert filtered.sft.height > 0 and filtered.grpo.height > 0
    filtered.sft.write_parquet(folder / FILES["sft"])
    filtered.grpo.write_parquet(folder / FILES["grpo"])
    return folder


def _validate(dataset: str, frame: pl.DataFrame, source: str, data: Path) -> None:
    """The suite a reading stage runs on that dataset, with no output-side budget (as on read)."""
    if dataset == "queries":
        validate_queries(frame, source=source, splits=["train"])
    elif dataset == "turns":
        validate_turns(frame, source=source)
    elif dataset == "traces":
        validate_traces(frame, source=source, turns=pl.read_parquet(data / FILES["turns"]))
    elif dataset == "sft":
        validate_sft(frame, source=source)
    else:
        validate_grpo(frame, source=source, domain=get_domain("travelplanner"))


# --------------------------------------------------------------------------------------- mutations


def _first(column: str, value) -> pl.Expr:
    """`column` with `value` in the first row only (the other rows stay valid)."""
    return pl.when(pl.int_range(pl.len()) == 0).then(value).otherwise(pl.col(column)).alias(column)


def _float_nan(column: str):
    """An integer column stored as float with a NaN in the first row."""
    return lambda f: f.with_columns(pl.col(column).cast(pl.Float64)).with_columns(_first(column, float("nan")))


def _nan(column: str):
    return lambda f: f.with_columns(_first(column, float("nan")))


def _string(column: str):
    return lambda f: f.with_columns(pl.col(column).cast(pl.String))


def _huge(column: str):
    return lambda f: f.with_columns(_first(column, pl.lit(HUGE)))


def _huge_message(column: str):
    """The last message of `column` (a [system, user] prompt: the user's) 5 MB long, in the first row."""
    def mutate(f):
        messages = [list(m) for m in f[column].to_list()]
        messages[0][-1] = {**messages[0][-1], "content": HUGE}
        return f.with_columns(pl.Series(column, messages, dtype=f.schema[column]))
    return mutate


def _dates(change):
    """The first row's `date` list changed by `change` (a list -> list function)."""
    def mutate(f):
        dates = f["date"].to_list()
        dates[0] = change(list(dates[0]))
        return f.with_columns(pl.Series("date", dates, dtype=f.schema["date"]))
    return mutate


def _query_json(change):
    """The first row's query_json changed by `change` (a dict -> None function)."""
    def mutate(f):
        records = f["query_json"].to_list()
        record = json.loads(records[0])
        change(record)
        records[0] = json.dumps(record)
        return f.with_columns(pl.Series("query_json", records))
    return mutate


def _set(index: int, value):
    def change(dates):
        dates[index] = value
        return dates
    return change


def _rule(name: str) -> str:
    return f"rule {name!r} failed ({NULL_CHECK} on 'rule:{name}')"


# (dataset, mutation, column, mutate, expectations: each must appear on one line with the file and column)
CASES = [
    ("queries", "column dropped", "budget", lambda f: f.drop("budget"), ["expect_column_to_exist"]),
    ("queries", "days as string", "days", _string("days"), ["expect_column_values_to_be_of_type"]),
    ("queries", "NaN min_cost", "min_cost", _nan("min_cost"), [_rule("min_cost_finite")]),
    ("queries", "NaN budget (float)", "budget", _float_nan("budget"),
     ["expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null"]),
    ("queries", "5 MB query text", "query", _huge("query"), ["expect_column_value_lengths_to_be_between"]),
    ("queries", "date 2022-02-30", "date", _dates(_set(1, "2022-02-30")), [_rule("dates_valid")]),
    ("queries", "date not ISO", "date", _dates(_set(0, "03/16/2022")), [_rule("dates_iso")]),
    ("queries", "dates not matching days", "date", _dates(lambda d: d[:-1]), [_rule("date_length_equals_days")]),
    ("turns", "column dropped", "role", lambda f: f.drop("role"), ["expect_column_to_exist"]),
    ("turns", "tokens_in as string", "tokens_in", _string("tokens_in"), ["expect_column_values_to_be_of_type"]),
    ("turns", "NaN latency_ms", "latency_ms", _nan("latency_ms"),
     ["expect_column_values_to_not_be_null", _rule("latency_finite")]),
    ("turns", "5 MB model output", "output", _huge("output"), ["expect_column_value_lengths_to_be_between"]),
    ("traces", "column dropped", "final_pass", lambda f: f.drop("final_pass"), ["expect_column_to_exist"]),
    ("traces", "days as string", "days", _string("days"), ["expect_column_values_to_be_of_type"]),
    ("traces", "NaN final_cost", "final_cost", _nan("final_cost"), [_rule("final_cost_finite")]),
    ("traces", "5 MB reasoner output", "reasoner_output", _huge("reasoner_output"),
     ["expect_column_value_lengths_to_be_between"]),
    ("sft", "column dropped", "completion", lambda f: f.drop("completion"), ["expect_column_to_exist"]),
    ("sft", "tokens as string", "tokens", _string("tokens"), ["expect_column_values_to_be_of_type"]),
    ("sft", "NaN tokens (float)", "tokens", _float_nan("tokens"),
     ["expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null"]),
    ("sft", "5 MB prompt", "prompt", _huge_message("prompt"), [_rule("messages_fit")]),
    ("grpo", "column dropped", "query_json", lambda f: f.drop("query_json"), ["expect_column_to_exist"]),
    ("grpo", "days as string", "days", _string("days"), ["expect_column_values_to_be_of_type"]),
    ("grpo", "NaN budget (float)", "budget", _float_nan("budget"),
     ["expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null"]),
    ("grpo", "5 MB prompt", "prompt", _huge_message("prompt"), [_rule("messages_fit")]),
    ("grpo", "5 MB query_json", "query_json", _query_json(lambda q: q.update(note=HUGE)),
     ["expect_column_value_lengths_to_be_between"]),
    ("grpo", "date 2022-02-30 in query_json", "query_json",
     _query_json(lambda q: q["date"].__setitem__(0, "2022-02-30")), [_rule("query_json_valid")]),
    ("grpo", "dates not matching days in query_json", "query_json", _query_json(lambda q: q["date"].pop()),
     [_rule("query_json_valid")]),
]


def _lines(error: DataValidationError) -> list[str]:
    return str(error).splitlines()


def _assert_named(message: str, source: str, column: str, expectations: list[str]) -> None:
    """Every expectation is reported on a line naming the file and the column."""
    lines = message.splitlines()
    assert lines[0].startswith(f"{source}: "), lines[0]
    for expectation in expectations:
        assert any(source in line and repr(column) in line and expectation in line for line in lines), (
            f"no line names {source}, {column!r} and {expectation}:\n{message[:4000]}")


@pytest.mark.parametrize("dataset", list(FILES))
def test_the_valid_files_pass_their_suites(data, dataset):
    path = data / FILES[dataset]
    _validate(dataset, pl.read_parquet(path), str(path), data)


@pytest.mark.parametrize("dataset, mutation, column, mutate, expectations", CASES,
                         ids=[f"{c[0]}-{c[1].replace(' ', '_')}" for c in CASES])
def test_hostile_file_is_stopped_naming_file_column_and_expectation(data, tmp_path, dataset, mutation, column,
                                                                    mutate, expectations):
    good = pl.read_parquet(data / FILES[dataset])
    path = tmp_path / Path(FILES[dataset]).name
    mutate(good).write_parquet(path)  # the hostile file on disk, as a stage would find it
    with pytest.raises(DataValidationError) as caught:
        _validate(dataset, pl.read_parquet(path), str(path), data)
    message = str(caught.value)
    _assert_named(message, str(path), column, expectations)
    assert HUGE[:1000] not in message  # the message quotes a bounded sample, never the hostile value


def test_max_text_is_generous_for_free_text():
    assert MAX_TEXT >= 1_000_000  # a real prompt or model output is a few thousand characters


# ------------------------------------------------------------------------- the stages, end to end


def _hostile(data: Path, folder: Path, dataset: str, mutate) -> Path:
    """`folder` holding the data files, with `dataset`'s file replaced by its mutation."""
    for name in FILES.values():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes((data / name).read_bytes())
    (folder / "queries" / "val.parquet").write_bytes((data / "queries" / "val.parquet").read_bytes())
    path = folder / FILES[dataset]
    mutate(pl.read_parquet(path)).write_parquet(path)
    return path


def _run_stage(name: str, params: dict, tmp_path: Path, **paths) -> subprocess.CompletedProcess:
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    cmd = [sys.executable, str(ROOT / "stages" / f"{name}.py"), "--params", str(params_file)]
    for flag, path in paths.items():
        cmd += [f"--{flag}"] if path is True else [f"--{flag}", str(path)]
    return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False)


def _assert_stopped(done: subprocess.CompletedProcess, source: Path, column: str, expectations: list[str],
                    outputs: list[Path]) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    _assert_named(done.stderr[done.stderr.index(f"{source}: "):], str(source), column, expectations)
    for output in outputs:
        assert not output.exists(), f"{output} was written"


def _base_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_traces_stage_stops_on_a_hostile_queries_file(data, tmp_path):
    hostile = _hostile(data, tmp_path / "data", "queries", _dates(_set(1, "2022-02-30")))
    rules = {"backend": "rules"}
    params = {"traces": {"splits": ["train"], "queries": str(hostile.parent), "sandbox": str(TRAVELPLANNER),
                         "cache": str(tmp_path / "calls.sqlite"), "seed": 0,
                         "roles": {"reasoner": rules, "judge": rules, "reflector": rules}}}
    out, metrics = tmp_path / "traces", tmp_path / "traces.json"
    done = _run_stage("traces", params, tmp_path, out=out, metrics=metrics, **{"no-progress": True})
    _assert_stopped(done, hostile, "date", [_rule("dates_valid")], [out, metrics, tmp_path / "calls.sqlite"])
    assert "traces: nothing written" in done.stderr


def test_filter_stage_stops_on_hostile_turns(data, tmp_path):
    hostile = _hostile(data, tmp_path / "data", "turns", _nan("latency_ms"))
    params = _base_params()
    params["filter"].update(tokenizer=None, sandbox=str(TRAVELPLANNER))
    out, metrics = tmp_path / "filtered", tmp_path / "filter.json"
    done = _run_stage("filter", params, tmp_path, traces=hostile.parent, queries=tmp_path / "data" / "queries",
                      out=out, metrics=metrics)
    _assert_stopped(done, hostile, "latency_ms", [_rule("latency_finite")], [out, metrics])
    assert "filter: nothing written" in done.stderr


def test_evaluate_stage_stops_on_a_hostile_queries_split(data, tmp_path):
    hostile = _hostile(data, tmp_path / "data", "queries", _huge("query"))
    model = tmp_path / "model"  # only looked for before the queries are read: never loaded
    model.mkdir()
    (model / "config.json").write_text("{}")
    params = _base_params()
    params["evaluate"].update(splits=["train"], queries=str(hostile.parent), sandbox=str(TRAVELPLANNER),
                              traces=None, models={"m": str(model)}, compare=None, cache=str(tmp_path / "eval_cache.sqlite"))
    out, reports, plots = tmp_path / "eval", tmp_path / "reports", tmp_path / "plots"
    done = _run_stage("evaluate", params, tmp_path, out=out, reports=reports, plots=plots)
    _assert_stopped(done, hostile, "query", ["expect_column_value_lengths_to_be_between"],
                    [out, reports, plots, tmp_path / "eval_cache.sqlite"])
    assert "evaluate: nothing written" in done.stderr


def test_sft_stage_stops_on_hostile_samples(data, tmp_path):
    hostile = _hostile(data, tmp_path / "data", "sft", _float_nan("tokens"))
    params = {"sft": {"model": str(tmp_path / "no_model"), "data": str(hostile), "max_steps": 2, "save_steps": 2,
                      "rl_init_step": 2}}
    out, live, metrics = tmp_path / "sft", tmp_path / "live", tmp_path / "sft.json"
    done = _run_stage("sft", params, tmp_path, out=out, live=live, metrics=metrics)
    _assert_stopped(done, hostile, "tokens",
                    ["expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null"],
                    [out, live, metrics])
    assert "sft: DataValidationError" in done.stderr


def test_grpo_stage_stops_on_hostile_prompts(data, tmp_path):
    hostile = _hostile(data, tmp_path / "data", "grpo", _huge_message("prompt"))
    checkpoint = tmp_path / "sft" / "checkpoint-2"  # only looked for before the prompts are read: never loaded
    checkpoint.mkdir(parents=True)
    for name in ("config.json", "tokenizer_config.json"):
        (checkpoint / name).write_text("{}")
    params = {"sft": {"max_steps": 2, "save_steps": 2, "rl_init_step": 2},
              "grpo": {"data": str(hostile), "sandbox": str(TRAVELPLANNER), "max_steps": 2, "save_steps": 2,
                       "num_generations": 2, "per_device_train_batch_size": 2}}
    out, live, metrics = tmp_path / "grpo", tmp_path / "live", tmp_path / "grpo.json"
    done = _run_stage("grpo", params, tmp_path, sft=tmp_path / "sft", out=out, live=live, metrics=metrics)
    _assert_stopped(done, hostile, "prompt", [_rule("messages_fit")], [out, live, metrics])
    assert "grpo: DataValidationError" in done.stderr
