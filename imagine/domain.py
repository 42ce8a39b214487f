"""The seam between the task-agnostic core and one planning task (a "domain").

The core — the stages, the MAS round protocol and call cache, the filter, SFT and GRPO, the evaluation
loop, audit and report — knows answers (`imagine.answer`: think block, REFLECTION, closing line, final
JSON), verdicts (`imagine.verdict`: named checks in named groups) and datasets keyed by `query_id`,
`split` and `level`. Everything about one task comes from its `Domain`: its world, certified queries,
the prompts of the Reasoner, Judges and Reflector, the checker in its modes, the scripted CPU teacher,
reward-hacking probes, audit SQL and export format. `params.yaml`'s top-level `domain:` names it;
`get_domain(name)` imports `imagine.domains.<name>` only then, so no other domain's code is loaded.

A checker (`Domain.checker(world, mode)`) has `score(record, answer) -> verdict` (a verdict exposes
`groups`, `delivered`, `final_pass`, `reasons`) and `applicable(record) -> {group: checks}`, the checks
the query sets (a check that applies but was not scored counts as failed in the reward and micro rates).
A record is the JSON-able query the checker reads (`Domain.record(row)` of a queries-table row; GRPO
prompts carry it as `query_json`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

DOMAINS = {
    "travelplanner": "imagine.domains.travelplanner.domain:TravelPlanner",
    "trip": "imagine.domains.trip.domain:Trip",
}
DEFAULT = "travelplanner"


@dataclass
class Built:
    """What a domain's world or query builder made: tables to write, a report, and extra text files."""

    tables: dict[str, pl.DataFrame]
    report: dict
    files: dict[str, list[str]] = field(default_factory=dict)  # file name -> lines
    meta: dict = field(default_factory=dict)  # what the domain needs to save it (e.g. a manifest)


class Domain(ABC):
    name: str
    levels: tuple[str, ...] = ("easy", "medium", "hard")
    modes: tuple[str, ...] = ("strict", "compat")
    groups: dict[str, tuple[str, ...]]           # the strict checker's check groups, in order
    check_columns: dict[str, tuple[str, str]]    # traces/evals column -> (group, check)
    always_scored: tuple[str, ...] = ()          # groups whose checks are never None (not null in traces)
    compat_columns: dict[str, tuple[str, str]] = {}  # evals columns of compat-only checks
    teacher: str                                 # "module:Class" of its `rules` backend
    audit_dir: Path                              # its saved audit queries (*.sql)
    # query columns copied into datasets, by dataset: "traces", "evals", "grpo_prompts"
    query_columns: dict[str, dict[str, pl.DataType]]
    trace_extra_columns: dict[str, pl.DataType] = {}  # after final_pass in traces (see trace_extras)

    # -- world and queries ------------------------------------------------------------------------
    @abstractmethod
    def build_world(self, params: dict) -> Built:
        """The world from the `sandbox:` params, validated (raises ValueError with the reason)."""

    @abstractmethod
    def save_world(self, built: Built, folder: Path) -> None: ...

    @abstractmethod
    def load_world(self, folder: str | Path):
        """The world a built folder holds, in the form the prompts, checker and teacher read."""

    @abstractmethod
    def build_queries(self, params: dict, progress=None) -> Built:
        """Certified queries per split (tables named by split) from the `queries:` params, validated;
        `progress` is a tqdm bar advanced per query (its total: `query_count(params)`)."""

    @abstractmethod
    def query_count(self, params: dict) -> int: ...

    def read_official_queries(self, path) -> list[dict]:
        """The benchmark's own query file as queries-table rows (with query ids), for `evaluate.official`."""
        raise ValueError(f"the {self.name} domain reads no official query file (evaluate.official)")

    @abstractmethod
    def validate_queries(self, frame: pl.DataFrame, source: str, splits: list[str] | None = None) -> None:
        """Raise DataValidationError/ValueError naming the file, column and problem."""

    @abstractmethod
    def record(self, row: dict) -> dict:
        """A queries-table row -> the JSON-able query its checker reads."""

    @abstractmethod
    def record_problem(self, record: dict, row: dict) -> str | None:
        """Why a GRPO prompt's record is not a valid query agreeing with its row's columns, or None."""

    def grpo_expectations(self) -> list:
        """Extra GX expectations on the domain's grpo_prompts columns."""
        return []

    # -- the MAS ------------------------------------------------------------------------------------
    @abstractmethod
    def prompts(self, world, params: dict):
        """An object with reasoner(row), judge(row, output) and reflector(row, output, verdicts) -> chat
        messages; `params` is the `traces:` section (domain keys such as reference caps)."""

    def teacher_query(self, row: dict) -> dict:
        """The query as its `rules` teacher reads it from a request's context."""
        return row

    def teacher_shared(self, world) -> dict:
        """Objects its `rules` backend takes besides its params (e.g. the world)."""
        return {}

    # -- checking -------------------------------------------------------------------------------------
    @abstractmethod
    def checker(self, world, mode: str = "strict"):
        """score(record, answer) -> verdict; applicable(record) -> {group: checks}."""

    def trace_extras(self, verdict) -> dict:
        """Columns of a traces row the final verdict gives beyond the checks (TravelPlanner: its cost)."""
        return {}

    def columns(self, row: dict, dataset: str) -> dict:
        """The query columns of `row` that `dataset` carries (see `query_columns`)."""
        return {name: row.get(name) for name in self.query_columns.get(dataset, {})}

    # -- export and probes ----------------------------------------------------------------------------
    def export(self, rows: list[dict], answers: list[str | None]) -> list[str]:
        """The benchmark's submission lines for these queries' answers (empty: no such format)."""
        return []

    def query_lines(self, rows: list[dict]) -> list[str]:
        """The query file that matches `export`'s lines."""
        return []

    @abstractmethod
    def audit_probes(self, data_dir: str = "data") -> dict:
        """Reward-hacking probes on a few certified queries of the built datasets (the audit stage's
        `probes` metrics): per probe how it scored against the genuine answer."""

    def evaluate_files(self, queries, answers, world_dir, mode: str, out) -> tuple[dict, list[str]]:
        """`imagine eval`: score a submission file against its query file; (summary, notes to print)."""
        raise ValueError(f"the {self.name} domain has no submission format for `imagine eval`")

    # -- params ---------------------------------------------------------------------------------------
    def params_schema(self) -> dict:
        """Schemas (imagine.params Section) of the domain's own sections: sandbox, queries, and the rules
        teacher's keys (traces.roles.*)."""
        return {}


def get_domain(name: str | None = None) -> Domain:
    name = name or DEFAULT
    if name not in DOMAINS:
        raise ValueError(f"domain must be one of {sorted(DOMAINS)}, got {name!r}")
    module, cls = DOMAINS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def domain_of(params: dict, source: str = "params.yaml") -> Domain:
    """The domain a loaded params file names (`domain:`; TravelPlanner when absent); an unknown name is
    a ParamsError that suggests the closest registered one."""
    from imagine.params import _unknown

    name = (params or {}).get("domain") or DEFAULT
    if name not in DOMAINS:
        raise _unknown(name, DOMAINS, "domain", source)
    return get_domain(name)
