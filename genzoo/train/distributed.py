"""Data parallelism across processes (``torchrun``): gradient averaging, scalar reduction, joint decisions.

Every process draws the same global batch and keeps its own contiguous shard; gradients are averaged
before clipping, logged scalars are averaged over processes (so a log record is the global batch's,
as in a single-process run), and any decision to stop is taken on all processes at once, so no process
is left waiting in a collective that the others have left.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist


def init(device: torch.device) -> tuple[int, int]:
    """``(rank, world)``: ``(0, 1)`` unless launched with ``WORLD_SIZE > 1``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def average_gradients(params: list[torch.nn.Parameter], world: int) -> None:
    grads = [p.grad for p in params if p.grad is not None]
    if world <= 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_buffers(module: torch.nn.Module, world: int) -> None:
    if world > 1:
        for b in module.buffers():
            dist.broadcast(b, 0)


def mean_over_processes(values: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    """Each scalar averaged over processes (keys must be the same on every process, in the same order)."""
    if world <= 1 or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= world
    return dict(zip(values, t.tolist()))


def any_process(flag: bool, world: int, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any one of them."""
    if world <= 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def exit_process(code: int) -> None:
    """End a ``torchrun`` worker with ``code`` once its work is done, without the interpreter's teardown.

    With the process group destroyed, torch 2.13's gloo backend still aborts the interpreter's finalization
    now and then ("terminate called without an active exception", SIGABRT; seen in about 1 of 10 two-process
    runs on a loaded 2-core machine, on either rank, after every file was written and the group destroyed),
    which makes a finished run's exit status a failure. Every file genzoo writes is complete and closed by
    then, so the worker flushes its streams and leaves with ``os._exit``. Outside a process group this is
    ``sys.exit(code)``. A barrier or teardown that fails (the other rank died) is said in one line on
    stderr and a would-be success exits with status 1, so a broken group never reads as a finished run.
    """
    if not (dist.is_available() and dist.is_initialized()):
        sys.exit(code)
    try:
        dist.barrier()  # neither process tears down its sockets while the other still reads
        dist.destroy_process_group()
    except Exception as e:  # noqa: BLE001 (any failure here must still end the process, and be said)
        rank = os.environ.get("RANK", "?")
        print(f"genzoo: rank {rank}: the process group did not shut down cleanly ({type(e).__name__}: {e})",
              file=sys.stderr)
        code = code or 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
