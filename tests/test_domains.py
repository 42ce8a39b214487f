"""The domain seam: the registry, a core that imports no domain, and `dvc.yaml` deps that cover every
file a stage script imports (its import closure inside `imagine/`, with the domain that params name)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from imagine.domain import DOMAINS, Domain, get_domain

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imagine"
DOMAIN_PACKAGES = PACKAGE / "domains"
MODULE_TEXT = re.compile(r"^imagine(\.\w+)+(:\w+)?$")  # "imagine.x.y" or "imagine.x.y:Class" in a string


def test_registered_domains_load_and_declare_the_seam():
    assert sorted(DOMAINS) == ["travelplanner", "trip"]
    for name in DOMAINS:
        domain = get_domain(name)
        assert isinstance(domain, Domain) and domain.name == name
        assert domain.groups and set(domain.levels) and "strict" in domain.modes
        assert {group for group, _ in domain.check_columns.values()} == set(domain.groups)
        assert Path(domain.audit_dir).is_dir() and list(Path(domain.audit_dir).glob("*.sql"))
    with pytest.raises(ValueError, match="domain must be one of"):
        get_domain("chess")


def _module_file(name: str) -> Path | None:
    path = ROOT / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _imported(path: Path) -> set[str]:
    """Modules `path` imports anywhere (top level or inside functions), plus 'imagine.*' module names
    written as strings (the backend and domain registries import those by name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.parent.relative_to(ROOT).parts  # what a relative import starts from
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # a submodule imported by name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_TEXT.match(node.value):
            names.add(node.value.split(":")[0])
    return {name for name in names if name == "imagine" or name.startswith("imagine.")}


def import_closure(script: Path, domain: str) -> set[Path]:
    """Every file under imagine/ that `script` can import, following the given domain only."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in _imported(path):
            parts = name.split(".")
            if parts[:2] == ["imagine", "domains"] and len(parts) > 2 and parts[2] != domain:
                continue  # another domain: only loaded when params name it
            for i in range(2, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                found = _module_file(".".join(parts[:i]))
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


def _stages(domain: str) -> dict[str, dict]:
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8").replace("${domain}", domain)
    return yaml.safe_load(text)["stages"]


def test_params_name_the_domain_and_the_dvc_stages_depend_on_it():
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert params["domain"] == "travelplanner"
    trip = yaml.safe_load((ROOT / "configs" / "trip" / "params.yaml").read_text(encoding="utf-8"))
    assert trip["domain"] == "trip"
    for name, stage in _stages("travelplanner").items():
        if any("imagine/domains/travelplanner" == dep for dep in stage.get("deps", [])):
            assert "domain" in stage.get("params", []), f"stage {name} reads the domain param"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_dvc_deps_cover_each_stage_scripts_import_closure(domain):
    missing = {}
    for name, stage in _stages(domain).items():
        scripts = re.findall(r"stages/\w+\.py", stage["cmd"])
        assert scripts, f"stage {name}: no stages/*.py in its cmd"
        deps = [ROOT / dep for dep in stage.get("deps", []) if isinstance(dep, str)]
        for script in scripts:
            assert ROOT / script in deps, f"stage {name} does not depend on its script {script}"
            uncovered = sorted(str(path.relative_to(ROOT)) for path in import_closure(ROOT / script, domain)
                               if not any(path == dep or dep in path.parents for dep in deps))
            if uncovered:
                missing[name] = uncovered
    assert not missing, f"dvc.yaml deps miss imported files: {missing}"


def test_the_core_imports_no_domain():
    """Outside imagine/domains/, no module imports a domain's code or names one (but the registry)."""
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if DOMAIN_PACKAGES in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                if module.startswith("imagine.domains"):
                    offenders.setdefault(str(path.relative_to(ROOT)), []).append(module)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    node.value.startswith("imagine.domains.") and path != PACKAGE / "domain.py":
                offenders.setdefault(str(path.relative_to(ROOT)), []).append(node.value)
    assert not offenders, offenders


def test_the_trip_path_loads_no_travelplanner_module():
    """The stages' closure with the trip domain never reaches imagine/domains/travelplanner."""
    for name, stage in _stages("trip").items():
        for script in re.findall(r"stages/\w+\.py", stage["cmd"]):
            reached = import_closure(ROOT / script, "trip")
            assert not [p for p in reached if (DOMAIN_PACKAGES / "travelplanner") in p.parents], name


def test_a_misspelt_domain_is_one_line_with_a_suggestion(tmp_path):
    from imagine.domain import domain_of
    from imagine.params import ParamsError, load_params

    with pytest.raises(ParamsError, match=r"unknown key domain\.trp \(did you mean trip\?\)"):
        domain_of({"domain": "trp"})
    bad = tmp_path / "params.yaml"
    bad.write_text("domain: travelplaner\nqueries: {}\n")
    with pytest.raises(ParamsError, match="did you mean travelplanner"):
        load_params(bad, ["queries"], domain_of)


@pytest.mark.parametrize("config", ["trip", "cpu-long", "cpu-fit", "paper"])
def test_each_shipped_config_validates_with_its_domains_schema(config):
    from imagine.domain import domain_of
    from imagine.params import SCHEMA, from_section, load_params
    from imagine.train.grpo import GRPOParams
    from imagine.train.sft import SFTParams

    params = load_params(ROOT / "configs" / config / "params.yaml", list(SCHEMA), domain_of)
    from_section(SFTParams, params["sft"], "sft")
    from_section(GRPOParams, params["grpo"], "grpo")
    if config == "trip":
        assert params["traces"]["roles"]["reasoner"]["mistakes"]["missing_connection"] > 0
