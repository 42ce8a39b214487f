"""DVC stage `grpo`: GRPO of the SFT student on data/filtered/grpo_prompts.parquet (TRL GRPOTrainer).

Reads `grpo:` and `sft.rl_init_step` from params.yaml and starts from models/sft/checkpoint-N
(N = rl_init_step). The reward is the paper's, computed by the domain's strict checker over
`grpo.sandbox`, with weights `grpo.reward`; each component, the KL, the completion length and the
fraction of groups with zero reward spread go to reports/grpo_live (dvclive) per step, the summary
to reports/grpo.json, the model to models/grpo/final. models/grpo is a persist output: a killed run
resumes like `sft`. `grpo.use_vllm` (GPU only) generates with vLLM. On a bad input or config: exit 1
with the reason, no metrics written. dvc.yaml runs it under `launch.grpo`, like `sft`.
"""

from __future__ import annotations

import sys

from imagine.domain import domain_of
from imagine.io import write_json
from imagine.stage import Stage
from imagine.train.grpo import GRPOParams
from imagine.train.sft import SFTParams

stage = Stage("grpo", __doc__, domain=domain_of, configs={"grpo": GRPOParams, "sft": SFTParams})
stage.arg("--sft", default="models/sft", help="SFT run folder (default: %(default)s)")
stage.arg("--out", default="models/grpo", help="run folder (default: %(default)s)")
stage.arg("--live", default="reports/grpo_live", help="dvclive folder (default: %(default)s)")
stage.arg("--metrics", default="reports/grpo.json", help="metrics JSON (default: %(default)s)")


def run(args, params, domain) -> int:
    from imagine.train.grpo import init_checkpoint, run_grpo, strict_reward
    from imagine.train.runs import is_main_process

    sft = SFTParams.from_params(params.get("sft"))
    config = GRPOParams.from_params(params.get("grpo"))
    report = run_grpo(config, init_checkpoint(args.sft, sft.rl_init_step), args.out, args.live,
                      strict_reward(config, domain), domain)
    if not is_main_process():  # under `accelerate launch` every process trains; one reports
        return 0
    write_json(args.metrics, report)
    last = report["last"]
    print(f"grpo: {report['steps']} steps from {report['init_checkpoint']}, reward {last.get('reward')}, "
          f"zero-spread groups {last.get('frac_reward_zero_std')}, {report['seconds']['per_step']:.1f} s/step")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
