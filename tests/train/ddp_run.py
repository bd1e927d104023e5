"""Run by test_distributed under torchrun (or plainly): train the deterministic baseline, print weights."""

import sys

import torch

import genzoo
from genzoo.train.distributed import exit_process

run_dir = sys.argv[1]
torch.set_num_threads(1)
run = genzoo.train(
    "independent", "digits", run_dir=run_dir, steps=6,
    overrides={"train.batch_size": 64, "train.progress": False, "train.lr": 0.05, "train.eval_batches": 1},
)
if torch.distributed.is_initialized():
    gathered = [torch.zeros_like(run.model.logits) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, run.model.logits.detach().contiguous())
    assert all(torch.equal(gathered[0], g) for g in gathered), "processes disagree"
exit_process(0)  # as the genzoo command ends: barrier, destroy the group, no interpreter teardown
