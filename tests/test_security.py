"""Security checks that need no training stage: the SQL audit reads nothing outside its views, the
sandbox loader refuses symlinks leading out of its folder, and checkpoints load as safetensors only."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imagine.domains.travelplanner.sandbox.tables import OFFICIAL_FILES, TABLES, Sandbox, SandboxError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_parquet('../x')",
    "SELECT * FROM read_parquet('../../etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('*')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM '../x.parquet'",
    "SELECT content FROM read_text('/etc/hostname')",
    "COPY (SELECT 1) TO '/tmp/out.csv'",
    "ATTACH '/tmp/x.db' AS x",
])
def test_audit_cli_refuses_reading_files(sql, tmp_path):
    result = subprocess.run([sys.executable, "-m", "imagine.cli", "audit", "--data", str(ROOT / "data"), sql],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "refused" in result.stderr
    assert "root:" not in result.stdout and not list(tmp_path.iterdir())


def _built_sandbox(tmp_path, official_sandbox) -> Path:
    folder = tmp_path / "sandbox"
    Sandbox({t: official_sandbox[t].head(5) for t in TABLES}, {"source": "test"}).save(folder)
    return folder


def test_sandbox_load_refuses_symlink_out_of_folder(tmp_path, official_sandbox):
    folder = _built_sandbox(tmp_path, official_sandbox)
    assert Sandbox.load(folder)["cities"].height == 5
    outside = tmp_path / "elsewhere.parquet"
    (folder / "cities.parquet").rename(outside)
    (folder / "cities.parquet").symlink_to(outside)
    with pytest.raises(SandboxError, match="outside the sandbox folder"):
        Sandbox.load(folder)


def test_sandbox_folder_itself_may_be_a_link(tmp_path, official_sandbox):
    folder = _built_sandbox(tmp_path, official_sandbox)
    link = tmp_path / "link"
    link.symlink_to(folder)
    assert Sandbox.load(link)["flights"].height == 5


def test_official_folder_refuses_symlinked_file_or_subfolder(tmp_path):
    source = ROOT / "data" / "external" / "travelplanner"
    folder = tmp_path / "official"
    for relative in OFFICIAL_FILES.values():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).symlink_to(source / relative)   # every file a link leading out
    with pytest.raises(SandboxError, match="refused"):
        Sandbox.load(folder)
    folder = tmp_path / "official2"
    folder.mkdir()
    (folder / "background").symlink_to(source / "background")  # a sub-folder link leading out
    with pytest.raises(SandboxError, match="refused"):
        Sandbox.load(folder)


def _python_files():
    return sorted(p for p in (ROOT / "imagine").rglob("*.py"))


def test_no_pickle_or_torch_load_in_library():
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("pickle", "cPickle", "dill", "joblib") for n in names), path
            if isinstance(node, ast.Attribute) and node.attr == "load" and isinstance(node.value, ast.Name):
                assert node.value.id not in ("torch", "pickle"), f"{path}:{node.lineno}"
        assert "weights_only=False" not in path.read_text(encoding="utf-8"), path


def test_checkpoints_load_as_safetensors_only():
    """Every from_pretrained of a model in imagine/ forces safetensors (GGUF conversion aside: GGUF is
    not pickle and has no safetensors file to force)."""
    calls = 0
    for path in _python_files():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"AutoModel\w*\.from_pretrained\((.*?)\)(?:\.eval\(\))?\s*(?:#.*)?$", text,
                                 re.DOTALL | re.MULTILINE):
            args = match.group(1)
            calls += 1
            assert "use_safetensors=True" in args or "gguf_file=" in args, f"{path}: {args}"
    assert calls >= 2


def test_student_checkpoint_validation_rejects_pickled_weights(tmp_path):
    from imagine.train.student import StudentError, validate_checkpoint

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(StudentError, match="safetensors"):
        validate_checkpoint(tmp_path)
