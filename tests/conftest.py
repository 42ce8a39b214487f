import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAVELPLANNER = ROOT / "data" / "external" / "travelplanner"


@pytest.fixture(scope="session")
def official_sandbox():
    from imagine.domains.travelplanner.sandbox import Sandbox

    return Sandbox.load(TRAVELPLANNER)


@pytest.fixture(scope="session")
def train_queries():
    """TravelPlanner's 45 train queries, each with its human-annotated `plan`."""
    with open(TRAVELPLANNER / "train.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="session")
def scorers(official_sandbox):
    from imagine.domains.travelplanner.evaluate import Scorer
    from imagine.domains.travelplanner.evaluate.index import SandboxIndex

    index = SandboxIndex(official_sandbox)
    return {"compat": Scorer(index, "compat"), "strict": Scorer(index, "strict")}


# No test may reach a model hub: transformers/huggingface_hub read these when first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Folder of a tiny randomly initialised Llama-style chat model + tokenizer (built offline, seeded)."""
    from tests.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_model") / "model")
