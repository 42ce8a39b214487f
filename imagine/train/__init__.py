"""Agentic reasoning training: student preparation (`student`), SFT and GRPO.

Submodules import torch/transformers lazily; importing this package costs nothing.
"""
