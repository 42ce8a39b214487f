"""The MAS protocol, round by round: Reasoner -> two Judges -> Reflector (only where flagged).

Round 1 sends every query's Reasoner call in batches; round 2 both Judges for every query whose
reasoner call produced text; round 3 the Reflector for every query that either Judge flagged (a
verdict other than `No errors.`, unparseable included). Every call goes through the content-hash
call cache (`cached_generate`), committed per call, so a killed run resumes where it stopped and a
rerun with nothing changed makes zero model calls.

Roles come from params (`traces.roles`): `reasoner`, `judge` (both judges; `judge_1`/`judge_2`
override it one by one) and `reflector`, each a backend spec plus sampling keys (`temperature`,
`max_tokens`, `top_p`, `stop`) and `batch_size`. Identical backend specs share one backend
instance (one model loaded once). Judge k samples with seed `seed + k`, so two judges on the same
model are two distinct calls.

The result is the `turns` rows (one per call), the `traces` rows (one per query; see
`imagine.mas.schema`) and the metrics dict.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from imagine.answer import parse_output
from imagine.llm.base import Backend, Output, Request, Sampling, call_key
from imagine.llm.cache import CallCache, cached_generate
from imagine.llm.registry import build_backend
from imagine.mas.parsing import JUDGE_ERRORS, JUDGE_OK, NO_ERRORS, UNPARSEABLE, parse_reflection, parse_verdict
from imagine.mas.schema import ROUNDS

SAMPLING_KEYS = ("temperature", "max_tokens", "top_p", "stop")
RUN_KEYS = ("batch_size",)
ROLE_KEYS = ("reasoner", "judge", "judge_1", "judge_2", "reflector")


@dataclass
class RoleConfig:
    spec: dict                # backend spec for build_backend (backend, model, backend options)
    sampling: Sampling
    batch_size: int | None = None


def role_configs(roles: dict, seed: int = 0) -> dict[str, RoleConfig]:
    """params `traces.roles` -> one RoleConfig per protocol role (reasoner, judge_1, judge_2, reflector)."""
    roles = dict(roles or {})
    unknown = set(roles) - set(ROLE_KEYS)
    if unknown:
        raise ValueError(f"traces.roles: unknown role(s) {sorted(unknown)}; known: {list(ROLE_KEYS)}")
    for needed in ("reasoner", "reflector"):
        if needed not in roles:
            raise ValueError(f"traces.roles.{needed} is missing")
    out = {}
    for role, offset in (("reasoner", 0), ("judge_1", 1), ("judge_2", 2), ("reflector", 3)):
        raw = roles.get(role) or (roles.get("judge") if role.startswith("judge") else None)
        if not raw:
            raise ValueError(f"traces.roles: no spec for {role} (set `judge` or `{role}`)")
        raw = dict(raw)
        if "backend" not in raw:
            raise ValueError(f"traces.roles.{role}: `backend` is missing")
        sampling = {k: raw.pop(k) for k in SAMPLING_KEYS if k in raw}
        batch_size = raw.pop("batch_size", None)
        if "stop" in sampling:
            sampling["stop"] = tuple(sampling["stop"] or ())
        judge_seed = offset if role.startswith("judge") else 0
        out[role] = RoleConfig(raw, Sampling(seed=int(seed) + judge_seed, **sampling),
                               int(batch_size) if batch_size else None)
    return out


@dataclass
class Call:
    query_id: str
    role: str
    request: Request


@dataclass
class Result:
    turns: list[dict]
    traces: list[dict]
    metrics: dict
    calls: dict = field(default_factory=dict)


class _Bar:
    """A tqdm bar per round: calls done/total, cache hits, output tokens per second."""

    def __init__(self, desc: str, total: int, enabled: bool):
        self.lock = threading.Lock()
        self.hits = self.tokens = 0
        self.started = time.perf_counter()
        self.bar = None
        if enabled:
            import sys

            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, unit="call", file=sys.stderr, dynamic_ncols=True)

    def update(self, output: Output) -> None:
        with self.lock:
            self.hits += output.cached
            if not output.cached:
                self.tokens += output.tokens_out
            if self.bar is not None:
                elapsed = max(time.perf_counter() - self.started, 1e-9)
                self.bar.set_postfix(hits=self.hits, tok_s=f"{self.tokens / elapsed:.0f}", refresh=False)
                self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Protocol:
    """The rounds over one domain's queries. `params` is the `traces:` section (the domain's prompts read
    their own keys from it, e.g. TravelPlanner's reference caps)."""

    def __init__(self, roles: dict[str, RoleConfig], domain, world, params: dict | None = None,
                 cache: CallCache | None = None, shared: dict | None = None, progress: bool = True):
        self.roles = roles
        self.domain = domain
        self.prompts = domain.prompts(world, params or {})
        self.cache = cache
        self.progress = progress
        self.checker = domain.checker(world, "strict")
        shared = {**domain.teacher_shared(world), **(shared or {})}
        built: dict[str, Backend] = {}
        self.backends: dict[str, Backend] = {}
        for role, config in roles.items():
            key = json.dumps(config.spec, sort_keys=True, default=str)
            if key not in built:
                built[key] = build_backend(config.spec, teacher=domain.teacher, **shared)
            self.backends[role] = built[key]
        self._owned = list(built.values())

    def close(self) -> None:
        for backend in self._owned:
            backend.close()

    # -- one round ------------------------------------------------------------------------------
    def _round(self, number: int, name: str, calls: list[Call], stats: dict) -> dict[tuple[str, str], tuple[Output, str]]:
        """Run `calls` (grouped by role) through the cache; {(query_id, role): (output, prompt_hash)}."""
        bar = _Bar(f"round {number} {name}", len(calls), self.progress)
        results: dict[tuple[str, str], tuple[Output, str]] = {}
        started = time.perf_counter()
        try:
            by_role: dict[str, list[Call]] = defaultdict(list)
            for call in calls:
                by_role[call.role].append(call)
            for role, group in by_role.items():
                config, backend = self.roles[role], self.backends[role]
                size = config.batch_size or len(group) or 1
                for start in range(0, len(group), size):
                    chunk = group[start:start + size]
                    requests = [c.request for c in chunk]
                    outputs = cached_generate(backend, requests, config.sampling, self.cache,
                                              on_output=lambda i, out: bar.update(out))
                    for call, output in zip(chunk, outputs):
                        results[(call.query_id, role)] = (output, call_key(backend, call.request, config.sampling))
        finally:
            bar.close()
        stats["seconds"][f"round_{number}_{name}"] = round(time.perf_counter() - started, 3)
        return results

    # -- the whole protocol ---------------------------------------------------------------------
    def run(self, rows: list[dict]) -> Result:
        started = time.perf_counter()
        stats = {"seconds": {}}
        by_id = {row["query_id"]: row for row in rows}
        if len(by_id) != len(rows):
            raise ValueError("query_id values must be unique")
        queries = {qid: self.domain.teacher_query(row) for qid, row in by_id.items()}  # as the rules teacher reads it

        # Round 1: reasoners.
        calls = [Call(qid, "reasoner", Request(
            tuple(self.prompts.reasoner(by_id[qid])),
            {"role": "reasoner", "query": queries[qid], "reference_plan": by_id[qid].get("reference_plan")}))
            for qid in by_id]
        requests = {(c.query_id, c.role): c.request for c in calls}
        outputs = self._round(1, "reasoner", calls, stats)

        # Round 2: both judges on every reasoner output.
        calls = []
        for qid in by_id:
            text = outputs[(qid, "reasoner")][0].text
            if text is None:
                continue
            messages = tuple(self.prompts.judge(by_id[qid], text))
            for k in (1, 2):
                calls.append(Call(qid, f"judge_{k}", Request(messages, {
                    "role": "judge", "judge": k, "query": queries[qid], "reasoner_output": text})))
        requests.update({(c.query_id, c.role): c.request for c in calls})
        outputs.update(self._round(2, "judges", calls, stats))
        verdicts = {key: parse_verdict(out.text) if out.text is not None else UNPARSEABLE
                    for key, (out, _) in outputs.items() if key[1].startswith("judge")}

        # Round 3: the reflector where either judge flagged.
        calls = []
        for qid in by_id:
            said = [verdicts.get((qid, f"judge_{k}")) for k in (1, 2)]
            if said[0] is None or all(v == NO_ERRORS for v in said):
                continue
            text = outputs[(qid, "reasoner")][0].text
            shown = [{"errors": JUDGE_ERRORS, "no_errors": JUDGE_OK}.get(v, "unclear") for v in said]
            calls.append(Call(qid, "reflector", Request(
                tuple(self.prompts.reflector(by_id[qid], text, shown)),
                {"role": "reflector", "query": queries[qid], "reasoner_output": text, "verdicts": said,
                 "reference_plan": by_id[qid].get("reference_plan")})))
        requests.update({(c.query_id, c.role): c.request for c in calls})
        outputs.update(self._round(3, "reflector", calls, stats))

        turns = self._turns(by_id, requests, outputs, verdicts)
        traces = self._traces(by_id, requests, outputs, verdicts)
        metrics = self._metrics(turns, traces, stats, time.perf_counter() - started)
        return Result(turns, traces, metrics)

    def _turns(self, by_id, requests, outputs, verdicts) -> list[dict]:
        turns = []
        for qid, row in by_id.items():
            for role in ("reasoner", "judge_1", "judge_2", "reflector"):
                if (qid, role) not in outputs:
                    continue
                output, key = outputs[(qid, role)]
                backend = self.backends[role]
                turns.append({
                    "query_id": qid, "split": row.get("split"), "round": ROUNDS[role], "role": role,
                    "backend": backend.name, "model": backend.model, "prompt_hash": key,
                    "prompt": requests[(qid, role)].prompt_json(), "output": output.text,
                    "verdict": verdicts.get((qid, role)), "tokens_in": int(output.tokens_in),
                    "tokens_out": int(output.tokens_out), "latency_ms": float(output.latency_ms),
                    "cached": bool(output.cached), "error": output.error,
                })
        return turns

    def _traces(self, by_id, requests, outputs, verdicts) -> list[dict]:
        reasoner = self.backends["reasoner"]
        inject = getattr(reasoner, "injected_errors", None)
        traces = []
        for qid, row in by_id.items():
            record = self.domain.record(row)
            out, _ = outputs[(qid, "reasoner")]
            parsed = parse_output(out.text) if out.text is not None else None
            reasoner_plan = parsed.plan if parsed is not None and parsed.ok else None
            reasoner_error = (f"call failed: {out.error}" if out.text is None
                              else parsed.error if reasoner_plan is None else None)
            reasoner_verdict = self.checker.score(record, reasoner_plan) if reasoner_plan is not None else None
            reasoner_pass = bool(reasoner_verdict and reasoner_verdict.final_pass)
            said = [verdicts.get((qid, f"judge_{k}")) for k in (1, 2)]
            judged = said[0] is not None
            flagged = judged and any(v != NO_ERRORS for v in said)
            reflected = (qid, "reflector") in outputs
            reflection = reflector_error = None
            final_plan, final_source = reasoner_plan, ("reasoner" if reasoner_plan is not None else None)
            if reflected:
                ref_out, _ = outputs[(qid, "reflector")]
                if ref_out.text is None:
                    reflector_error = f"call failed: {ref_out.error}"
                else:
                    parsed_ref = parse_reflection(ref_out.text)
                    reflection, reflector_error = parsed_ref.analysis, parsed_ref.error
                    if parsed_ref.plan is not None:
                        final_plan, final_source = parsed_ref.plan, "reflector"
            verdict = self.checker.score(record, final_plan)  # no plan: every check fails
            final_pass = bool(verdict.final_pass)
            trace = {
                "query_id": qid, "split": row.get("split"), "level": row["level"],
                **self.domain.columns(row, "traces"), "query": row.get("query"),
                "reasoner_output": out.text,
                "reasoning": parsed.reasoning if parsed is not None else None,
                "reasoner_plan": json.dumps(reasoner_plan, ensure_ascii=False) if reasoner_plan is not None else None,
                "reasoner_parse_error": reasoner_error,
                "judge_1_verdict": said[0], "judge_2_verdict": said[1], "flagged": flagged,
                "reflected": reflected, "reflection": reflection, "reflector_parse_error": reflector_error,
                "final_plan": json.dumps(final_plan, ensure_ascii=False) if final_plan is not None else None,
                "final_source": final_source, "reasoner_pass": reasoner_pass,
                "final_pass": final_pass, **self.domain.trace_extras(verdict),
                "reflector_fixed": (not reasoner_pass and final_pass) if reflected else None,
                "lazy_reflection": judged and not flagged and not reasoner_pass,
                "injected_errors": (inject(requests[(qid, "reasoner")], self.roles["reasoner"].sampling)
                                    if inject is not None else []),
                "tokens_in": sum(int(outputs[(qid, r)][0].tokens_in) for r in ROUNDS if (qid, r) in outputs),
                "tokens_out": sum(int(outputs[(qid, r)][0].tokens_out) for r in ROUNDS if (qid, r) in outputs),
            }
            for column, (group, check) in self.domain.check_columns.items():
                trace[column] = verdict.groups[group].get(check)
            traces.append(trace)
        return traces

    def _metrics(self, turns, traces, stats, wall) -> dict:
        n = len(traces)

        def rate(hits, total):
            return round(hits / total, 4) if total else None

        def pass_rates(column):
            out = {"all": rate(sum(t[column] for t in traces), n)}
            for level in self.domain.levels:
                group = [t for t in traces if t["level"] == level]
                out[level] = rate(sum(t[column] for t in group), len(group))
            return out

        real = [t for t in turns if not t["cached"]]
        judged = [t for t in traces if t["judge_1_verdict"] is not None]
        reflected = [t for t in traces if t["reflected"]]
        failing = [t for t in judged if not t["reasoner_pass"]]
        passing = [t for t in judged if t["reasoner_pass"]]
        judges = {}
        for k in (1, 2):
            column = f"judge_{k}_verdict"
            judges[f"judge_{k}"] = {
                "miss_rate": rate(sum(t[column] == NO_ERRORS for t in failing), len(failing)),
                "false_alarm_rate": rate(sum(t[column] != NO_ERRORS for t in passing), len(passing)),
                "unparseable": sum(t[column] == UNPARSEABLE for t in judged),
            }
        generation_s = sum(t["latency_ms"] for t in real) / 1000
        tokens_out_real = sum(t["tokens_out"] for t in real)
        by_role = {}
        for role in ROUNDS:
            group = [t for t in turns if t["role"] == role]
            by_role[role] = {"calls": len(group), "llm_calls": sum(not t["cached"] for t in group),
                             "tokens_in": sum(t["tokens_in"] for t in group),
                             "tokens_out": sum(t["tokens_out"] for t in group)}
        reflected_failing = [t for t in reflected if not t["reasoner_pass"]]
        return {
            "queries": n,
            "splits": dict(Counter(t["split"] for t in traces)),
            "llm_calls": len(real),
            "cache_hits": len(turns) - len(real),
            "failed_calls": sum(t["error"] is not None for t in turns),
            "calls": len(turns),
            "roles": by_role,
            "reasoner_parse_errors": sum(t["reasoner_parse_error"] is not None for t in traces),
            "flag_rate": rate(sum(t["flagged"] for t in judged), len(judged)),
            "judge_agreement": rate(sum(t["judge_1_verdict"] == t["judge_2_verdict"] for t in judged), len(judged)),
            "judges": judges,
            "reflected": len(reflected),
            "reflector_fix_rate": rate(sum(t["final_pass"] for t in reflected_failing), len(reflected_failing)),
            "reflector_break_rate": rate(sum(t["reasoner_pass"] and not t["final_pass"] for t in reflected),
                                         sum(t["reasoner_pass"] for t in reflected)),
            "reflector_parse_errors": sum(t["reflector_parse_error"] is not None for t in reflected),
            "lazy_reflections": sum(t["lazy_reflection"] for t in traces),
            "lazy_reflection_rate": rate(sum(t["lazy_reflection"] for t in traces), n),
            "lazy_share_of_failures": rate(sum(t["lazy_reflection"] for t in failing), len(failing)),
            "teacher_raw_pass_rate": pass_rates("reasoner_pass"),
            "teacher_final_pass_rate": pass_rates("final_pass"),
            "injected_errors": dict(Counter(k for t in traces for k in t["injected_errors"])),
            "tokens": {"in": sum(t["tokens_in"] for t in turns), "out": sum(t["tokens_out"] for t in turns),
                       "out_generated": tokens_out_real,
                       "per_second": round(tokens_out_real / generation_s, 1) if generation_s > 0 else None},
            "seconds": {**stats["seconds"], "protocol": round(wall, 3), "generation": round(generation_s, 3)},
        }
