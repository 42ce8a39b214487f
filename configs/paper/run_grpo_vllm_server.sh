#!/usr/bin/env bash
# GRPO at paper scale on one 8-GPU machine, with rollouts served by vLLM (grpo.vllm_mode: server).
#
# GPU 0 runs the rollout server; GPUs 1-7 run the 7 training processes. After every optimizer step
# the trainer pushes its new weights into the server (NCCL), so the server only needs to start from
# the same checkpoint GRPO starts from. Run from the repository root with configs/paper/params.yaml
# copied to params.yaml (the sft stage already done):  bash configs/paper/run_grpo_vllm_server.sh
set -euo pipefail

INIT=${INIT:-models/sft/checkpoint-800}   # models/sft/checkpoint-<sft.rl_init_step>
PORT=${PORT:-8000}                        # must match grpo.vllm_server_base_url

# 1. The rollout server on GPU 0, in the background. max-model-len covers a long prompt plus
#    grpo.max_completion_length (8192) tokens. (`trl vllm-serve` runs `vllm serve` with the extra
#    flags the trainer needs for the weight push; it prints the equivalent vllm command.)
CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model "$INIT" --port "$PORT" \
    --max-model-len 16384 --gpu-memory-utilization 0.9 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT

# Wait until it answers (loading an 8B model takes a minute or two); stop if it died.
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
    kill -0 "$SERVER" 2>/dev/null || { echo "vLLM server exited" >&2; exit 1; }
    sleep 10
done

# 2. Training on GPUs 1-7. `dvc repro grpo` runs launch.grpo, which is exactly:
#      accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml \
#          --num_processes 7 --gpu_ids 1,2,3,4,5,6,7 stages/grpo.py
#    (7 processes x per_device_train_batch_size 1 x gradient_accumulation_steps 8 = 56 completions
#    per step = 7 prompts x num_generations 8).
dvc repro grpo
