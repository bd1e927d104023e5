"""What the training progress bar shows.

The engine logs every key a model's ``training_step`` returns, prefixed with the parameter group when a
model has several (``discriminator/loss``, ``generator/loss``, ``discriminator/d_real``, ...).
:func:`postfix_keys` picks the few the bar has room for: every player's ``loss`` first (so a GAN shows
both the discriminator's and the generator's), then headline quantities (``bits_per_dim``, ``nll``,
``elbo``, ``kl``, ``mmd``, ...), then the rest in logged order; :func:`postfix` formats them.
"""

from __future__ import annotations

from collections.abc import Mapping

#: leaf names shown after the losses, in this order of preference
HEADLINE_KEYS = ("bits_per_dim", "nll", "nll_nats", "elbo", "kl", "recon", "mmd", "accuracy")
#: logged keys that are bookkeeping, never shown
_HIDDEN = ("step", "epoch", "split", "images_per_s", "lr", "diverged", "grad_norm", "instance_noise")


def _leaf(key: str) -> str:
    return key.rpartition("/")[2]


def postfix_keys(record: Mapping[str, object], limit: int = 4) -> list[str]:
    """Up to ``limit`` keys of a logged record for the progress bar: each ``*/loss`` (and ``loss``), then
    headline keys, then the remaining numbers in logged order."""
    numbers = [k for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and _leaf(k) not in _HIDDEN]
    losses = [k for k in numbers if _leaf(k) == "loss"]
    headline = sorted((k for k in numbers if _leaf(k) in HEADLINE_KEYS and k not in losses),
                      key=lambda k: HEADLINE_KEYS.index(_leaf(k)))
    rest = [k for k in numbers if k not in losses and k not in headline]
    return (losses + headline + rest)[:limit]


def postfix(record: Mapping[str, object], limit: int = 4) -> dict[str, str]:
    """``{key: "value"}`` for ``tqdm.set_postfix``; group prefixes shortened to their first letter
    (``d/loss``, ``g/loss``) so two players fit on one line."""
    out = {}
    for key in postfix_keys(record, limit):
        group, _, leaf = key.rpartition("/")
        label = f"{group[:1]}/{leaf}" if group else leaf
        out[label] = f"{float(record[key]):.4g}"  # type: ignore[arg-type]
    return out
