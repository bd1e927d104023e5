"""The engine's optimiser and data order: fused Adam is the paper's update, and the epoch order cache
hands out the batches the stateless formula defines."""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.config import resolve
from genzoo.train.loop import Trainer, epoch_order, step_generator
from genzoo.train.optim import build_optimizer


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in [(7, 5), (5,), (3, 7)]]


def _grads(seed: int, params: list[torch.nn.Parameter], n: int) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, generator=g) for p in params] for _ in range(n)]


def _run(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], grads: list[list[torch.Tensor]]) -> None:
    for gs in grads:
        for p, gr in zip(params, gs):
            p.grad = gr.clone()
        opt.step()


def test_adam_is_fused_and_follows_the_per_tensor_update() -> None:
    cfg = resolve(model="vae", data="digits").train
    a, b = _params(0), _params(0)
    fused = build_optimizer(a, cfg, "model")
    loop = torch.optim.Adam(b, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, foreach=False)
    assert fused.defaults.get("fused") is True
    grads = _grads(1, a, 30)
    _run(fused, a, grads)
    _run(loop, b, grads)
    moved = max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(a, _params(0)))
    assert moved > 10 * cfg.lr  # the steps did something
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_a_per_tensor_adam_state_continues_in_the_fused_kernel() -> None:
    """Checkpoints written before Adam was fused resume into it and continue the same update."""
    cfg = resolve(model="vae", data="digits").train
    a, b = _params(2), _params(2)
    old = torch.optim.Adam(a, lr=cfg.lr, eps=cfg.eps, foreach=False)
    ref = torch.optim.Adam(b, lr=cfg.lr, eps=cfg.eps, foreach=False)
    first, then = _grads(3, a, 10), _grads(4, a, 10)
    _run(old, a, first)
    _run(ref, b, first)
    fused = build_optimizer(a, cfg, "model")
    fused.load_state_dict(old.state_dict())
    _run(fused, a, then)
    _run(ref, b, then)
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_epoch_order_drawn_once_an_epoch_gives_the_stateless_batches(tmp_path: Path) -> None:
    cfg = resolve(model="vae", data="digits", overrides={"train.batch_size": 256, "train.progress": False})
    trainer = Trainer(cfg, tmp_path / "run")
    n, b, per_epoch = len(trainer.train_data), 256, trainer.steps_per_epoch
    assert per_epoch >= 2
    for step in [0, 1, per_epoch - 1, per_epoch, per_epoch + 1, 3 * per_epoch, 1]:  # back and forth
        epoch, pos = divmod(step, per_epoch)
        index = epoch_order(n, cfg.train.seed, epoch)[pos * b : (pos + 1) * b]
        expected = trainer.train_data.batch(index, step_generator(cfg.train.seed, step))
        assert torch.equal(trainer.batch_for(step)["x"], expected["x"]), step
