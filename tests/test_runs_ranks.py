"""The run folder under a multi-process launch: only rank 0 wipes or writes, every rank resumes from
the same checkpoint. Ranks are simulated through RANK (WORLD_SIZE stays 1, so no process group is
needed); a real 2-process `accelerate launch` is too slow for the test suite."""

import json

import pytest

from imagine.train.runs import RunDir


def _checkpoint(run: RunDir, step: int) -> None:
    folder = run.checkpoint(step)
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))


def test_other_ranks_follow_the_main_rank(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "sft")
    monkeypatch.setenv("RANK", "0")
    assert run.prepare("fp1") is None  # fresh start: rank 0 creates the folder and run.json
    monkeypatch.setenv("RANK", "1")
    assert run.prepare("fp1") is None and run.meta() == {"fingerprint": "fp1", "finished": False}

    _checkpoint(run, 2)  # a killed run left a checkpoint behind
    monkeypatch.setenv("RANK", "0")
    resume = run.prepare("fp1")
    monkeypatch.setenv("RANK", "1")
    assert resume == run.checkpoint(2) and run.prepare("fp1") == resume

    run.finish(note="rank 1")  # only rank 0 marks the run finished
    assert run.meta()["finished"] is False and "note" not in run.meta()
    monkeypatch.setenv("RANK", "0")
    run.finish(note="rank 0")
    assert json.loads(run.meta_path.read_text()) == {"fingerprint": "fp1", "finished": True, "note": "rank 0"}


def test_a_rank_that_sees_another_folder_stops(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "grpo")
    monkeypatch.setenv("RANK", "0")
    run.prepare("fp1")
    _checkpoint(run, 2)
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(OSError, match="same run folder"):
        run.prepare("fp2")
    assert run.checkpoints() == {2: run.checkpoint(2)}  # a non-main rank never wipes
