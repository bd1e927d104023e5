"""Training monitors the adversarial models log: collapse and divergence heuristics."""

from __future__ import annotations

import math

from torch import Tensor


def collapse_flag(d_loss: float, g_loss: float, d_floor: float = 1e-2, g_ceiling: float = 10.0) -> float:
    """1.0 when training has diverged, else 0.0.

    Diverged means a non-finite loss, or the discriminator winning outright: its loss below
    ``d_floor`` nats while the (non-saturating) generator loss ``-log D(G(z))`` is above
    ``g_ceiling`` nats (``D(G(z)) < 5e-5``), from which the generator gets no useful signal.
    """
    if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
        return 1.0
    return 1.0 if (d_loss < d_floor and g_loss > g_ceiling) else 0.0


def diversity(fake: Tensor, real: Tensor) -> float:
    """Mean per-pixel standard deviation across the fake batch over the same for the real batch.

    Near 0 means the generator maps every ``z`` to (almost) the same image: mode collapse.
    """
    f = fake.detach().flatten(1).float().std(0).mean()
    r = real.detach().flatten(1).float().std(0).mean().clamp_min(1e-8)
    return float(f / r)
