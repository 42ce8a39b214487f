"""DVC stage `sft`: supervised fine-tuning of the student on data/filtered/sft.parquet (TRL SFTTrainer).

Reads `sft:` from params.yaml. The loss covers the assistant turn only (prompt tokens are masked);
samples longer than `sft.max_length` tokens are dropped. Checkpoints go to models/sft/checkpoint-N
every `save_steps` (all kept; `rl_init_step` names the one GRPO starts from), the final model to
models/sft/final. models/sft is a DVC persist output: a killed run resumes from its newest checkpoint
when run again with the same params and data; any change starts afresh. Per-step loss, learning rate,
grad norm and token accuracy go to reports/sft_live (dvclive), the summary to reports/sft.json.
On a bad input or config: exit 1 with the reason, no metrics written. dvc.yaml runs it under
`launch.sft` (`python`, or `accelerate launch ...` for several GPUs); with several processes every
one trains and only the main one writes run.json, the final model and the metrics.
"""

from __future__ import annotations

import sys

from imagine.io import write_json
from imagine.stage import Stage
from imagine.train.sft import SFTParams

stage = Stage("sft", __doc__, configs={"sft": SFTParams})
stage.arg("--out", default="models/sft", help="run folder (default: %(default)s)")
stage.arg("--live", default="reports/sft_live", help="dvclive folder (default: %(default)s)")
stage.arg("--metrics", default="reports/sft.json", help="metrics JSON (default: %(default)s)")


def run(args, params, domain) -> int:
    from imagine.train.runs import is_main_process
    from imagine.train.sft import run_sft

    report = run_sft(SFTParams.from_params(params.get("sft")), args.out, args.live)
    if not is_main_process():  # under `accelerate launch` every process trains; one reports
        return 0
    write_json(args.metrics, report)
    print(f"sft: {report['steps']} steps (resumed from {report['resumed_from_step']}) on "
          f"{report['samples_used']} samples, loss {report['train_loss']:.4f}, "
          f"{report['seconds']['per_step']:.1f} s/step; GRPO starts from {report['rl_init_checkpoint']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
