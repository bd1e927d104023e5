"""NADE's conditionals, fast: a native CPU kernel and a blocked torch formulation, both recomputing.

Larochelle & Murray 2011 (Eqs. 2-4) define, for flattened binary ``x in {0,1}^D``,

    a_d = c + sum_{k<d} W[:, k] x_k,    h_d = sigmoid(a_d),    logit_d = b_d + V[d] . h_d.

The reference implementation (:meth:`genzoo.models.nade.NADE.logits_reference`) builds ``a`` with an
exclusive cumulative sum over ``(N, block, H)`` tensors and lets autograd store every intermediate;
its time goes to a dozen full-size elementwise passes (cumsum and its flip-based backward, the
contribution product, sigmoid, the reductions). :class:`NADELogits` computes the same logits with

* **a triangular GEMM per block**: for the pixels ``s..s+B-1`` of a block,
  ``a[s+i] = prefix_s + sum_{j<i} x_{s+j} W[:, s+j]`` is one matrix product of the masked inputs
  ``XL[i, n, j] = x[n, s+j] [j < i]`` (``(B·N) x B``) with ``W[:, s:s+B]^T``, plus the running
  ``prefix_s = c + W[:, <s] x_<s`` (Eq. 4) carried from block to block;
* **recomputation instead of storage**: the forward keeps only the ``D/B`` prefixes
  (``N x H`` each); the backward recomputes each block's ``h`` and forms the gradients with GEMMs and
  one fused ``sigmoid_backward`` pass:

      dL/da[s+i] = sigmoid'(a[s+i]) * g[:, s+i] V[s+i]          (g = dL/dlogit)
      dV[s+i]    = sum_n g[n, s+i] h[n, s+i]
      dW[:, s:s+B] = XL^T dA   +   x_block^T G_after             (G_after = sum of dL/dprefix of later blocks)
      dc         = sum_n sum_blocks dL/dprefix_block

  Blocks are visited in reverse so that ``G_after`` is a running sum (the paper's O(DH) backward
  recurrence, vectorised over a block).

Blocks of ``B`` pixels keep the working set (``B·N·H`` floats) near the CPU cache; ``block`` only
changes the order of floating-point sums, not the model.

On the CPU, :func:`nade_logits` prefers :class:`NADELogitsNative`: the same recurrence written as one
loop per pixel in ``nade_cpu.cpp`` (beside this file), so every ``N x H`` pass happens in the L2
cache with a vectorised ``exp``; its backward is the paper's O(DH) recurrence run from the last pixel
to the first, recomputing each block's pre-activations from checkpoints saved every ``block`` pixels.
The source is compiled on first use with the system's ``g++`` (``-O3 -march=native -ffast-math``,
about a second) into ``$GENZOO_CACHE/ext/`` (default ``~/.cache/genzoo/ext``) and called through
ctypes; where there is no compiler (or on a GPU) the blocked torch path runs instead.
``GENZOO_NADE_KERNEL=torch`` forces the torch path. The native kernel is single-threaded (it was
written for, and measured on, one core per process); with many torch threads on a large CPU the
blocked torch path may be the faster one. Both give the reference's numbers to float
tolerance (``tests/nn/test_nade_fused.py``); measured speed: ``benchmarks/speed.py``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

_SOURCE = Path(__file__).with_name("nade_cpu.cpp")
_FLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-shared", "-fPIC"]
_LIB: ctypes.CDLL | None = None
_LIB_ERROR: str | None = None
_LOCK = threading.Lock()


def _masked_inputs(xb_t: Tensor, lower: Tensor) -> Tensor:
    """``XL[i, n, j] = x[n, j] if j < i else 0``, shape ``(B, N, B)``, from the block ``xb_t = x_block^T``
    ``(B, N)`` and the strictly lower-triangular ``lower`` ``(B, B)``."""
    width = xb_t.shape[0]
    return (xb_t.t().unsqueeze(0) * lower[:width, :width].unsqueeze(1)).contiguous()


class NADELogits(torch.autograd.Function):
    """``logits = NADELogits.apply(x, W, c, V, b, block)``: ``(N, D)`` logits of ``p(x_d = 1 | x_<d)``.

    ``x`` ``(N, D)`` binary (differentiated only when it requires grad, as in the order tests),
    ``W`` ``(H, D)``, ``c`` ``(H,)``, ``V`` ``(D, H)``, ``b`` ``(D,)``. Equal, up to float summation
    order, to the reference formulation; see the module docstring for the blocked forward and the
    recomputing backward. Work buffers of ``B x N x H`` are
    allocated once per call and reused by every block (fresh large allocations cost page faults).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, W: Tensor, c: Tensor, V: Tensor, b: Tensor, block: int) -> Tensor:
        n, d = x.shape
        h_dim = W.shape[0]
        block = min(block, d)
        wt = W.t().contiguous()  # (D, H): row k = W[:, k]
        xt = x.t().contiguous()  # (D, N): row k = x_k over the batch
        lower = torch.ones(block, block, dtype=W.dtype, device=W.device).tril_(-1)  # [i, j] = j < i
        logits = torch.empty(d, n, 1, dtype=W.dtype, device=W.device)  # pixel-major, transposed at the end
        starts = list(range(0, d, block))
        prefixes = torch.empty(len(starts), n, h_dim, dtype=W.dtype, device=W.device)
        h_buf = torch.empty(block, n, h_dim, dtype=W.dtype, device=W.device)
        prefix = prefixes[0]
        prefix.copy_(c.unsqueeze(0).expand(n, h_dim))
        for k, s in enumerate(starts):
            e = min(s + block, d)
            width = e - s
            if k:
                prefix = torch.addmm(prefixes[k - 1], xt[s - block : s].t(), wt[s - block : s], out=prefixes[k])
            h = h_buf[:width]
            torch.mm(_masked_inputs(xt[s:e], lower).view(width * n, width), wt[s:e], out=h.view(width * n, h_dim))
            h.add_(prefix).sigmoid_()  # h_{s+i} = sigmoid(c + W[:, <s+i] x_<s+i)  (Eqs. 2, 4)
            torch.baddbmm(b[s:e].view(width, 1, 1), h, V[s:e].unsqueeze(2), out=logits[s:e])  # Eq. 3
        ctx.block = block
        ctx.save_for_backward(xt, wt, V, prefixes)
        return logits.view(d, n).t()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        xt, wt, V, prefixes = ctx.saved_tensors
        block = ctx.block
        d, n = xt.shape
        h_dim = wt.shape[1]
        g = grad.t().contiguous()  # (D, N): dL/dlogit
        lower = torch.ones(block, block, dtype=wt.dtype, device=wt.device).tril_(-1)
        d_wt = torch.empty_like(wt)  # (D, H)
        d_v = torch.empty_like(V)
        h_buf = torch.empty(block, n, h_dim, dtype=wt.dtype, device=wt.device)
        da_buf = torch.empty_like(h_buf)
        da_sum = torch.empty(n, h_dim, dtype=wt.dtype, device=wt.device)
        after = torch.zeros(n, h_dim, dtype=wt.dtype, device=wt.device)  # sum of dL/dprefix of later blocks
        d_x = torch.empty(d, n, 1, dtype=wt.dtype, device=wt.device) if ctx.needs_input_grad[0] else None
        starts = list(range(0, d, block))
        for k in reversed(range(len(starts))):
            s = starts[k]
            e = min(s + block, d)
            width = e - s
            xl = _masked_inputs(xt[s:e], lower).view(width * n, width)
            h, d_a = h_buf[:width], da_buf[:width]
            torch.mm(xl, wt[s:e], out=h.view(width * n, h_dim))
            h.add_(prefixes[k]).sigmoid_()  # recomputed, (B, N, H)
            gb = g[s:e]  # (B, N)
            torch.bmm(gb.unsqueeze(1), h, out=d_v[s:e].unsqueeze(1))  # dV[s+i] = sum_n g h
            torch.mul(gb.unsqueeze(2), V[s:e].unsqueeze(1), out=d_a)  # dL/dh = g V
            torch.ops.aten.sigmoid_backward.grad_input(d_a, h, grad_input=d_a)  # * h (1 - h), one pass
            # dW[:, s+j] = sum_{i,n} XL[i, n, j] dA[i, n] + sum_n x[n, s+j] after[n]
            torch.addmm(xt[s:e] @ after, xl.t(), d_a.view(width * n, h_dim), out=d_wt[s:e])
            if d_x is not None:  # dL/dx[n, s+j] = W[:, s+j] . (sum_{i>j} dA[i, n] + after[n])
                later = torch.mm(lower[:width, :width].t(), d_a.view(width, n * h_dim)).view(width, n, h_dim)
                later.add_(after)
                torch.bmm(later, wt[s:e].unsqueeze(2), out=d_x[s:e])
            torch.sum(d_a, 0, out=da_sum)
            after.add_(da_sum)
        d_c = after.sum(0)
        d_b = g.sum(1)
        return None if d_x is None else d_x.view(d, n).t(), d_wt.t(), d_c, d_v, d_b, None


def _cpu_signature() -> str:
    """Compiled with ``-march=native``: the cache key includes the CPU's feature flags."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _library_path() -> Path:
    cache = Path(os.environ.get("GENZOO_CACHE") or Path.home() / ".cache" / "genzoo")
    key = hashlib.sha256(
        b"\0".join([_SOURCE.read_bytes(), " ".join(_FLAGS).encode(), _cpu_signature().encode()])
    ).hexdigest()[:16]
    return cache / "ext" / f"nade_cpu-{key}.so"


def native_library() -> ctypes.CDLL | None:
    """The compiled ``nade_cpu.cpp`` (built on first use), or None where it cannot be built."""
    global _LIB, _LIB_ERROR
    with _LOCK:
        if _LIB is not None or _LIB_ERROR is not None:
            return _LIB
        try:
            path = _library_path()
            if not path.is_file():
                compiler = shutil.which(os.environ.get("CXX", "g++"))
                if compiler is None:
                    raise RuntimeError("no C++ compiler (g++ or $CXX) on PATH")
                path.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                    out = Path(tmp) / path.name
                    subprocess.run([compiler, *_FLAGS, str(_SOURCE), "-o", str(out), "-lmvec"],
                                   check=True, capture_output=True, timeout=300)
                    os.replace(out, path)  # atomic: concurrent builders never see half a library
            lib = ctypes.CDLL(str(path))
            i64, ptr = ctypes.c_int64, ctypes.c_void_p
            for name in ("nade_forward_f32", "nade_forward_f64"):
                getattr(lib, name).argtypes = [ptr] * 7 + [i64] * 4
            for name in ("nade_backward_f32", "nade_backward_f64"):
                getattr(lib, name).argtypes = [ptr] * 10 + [i64] * 4
            _LIB = lib
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            _LIB_ERROR = f"{type(e).__name__}: {e}"
        return _LIB


def _suffix(t: Tensor) -> str:
    return "f32" if t.dtype == torch.float32 else "f64"


class NADELogitsNative(torch.autograd.Function):
    """:class:`NADELogits` computed by the native CPU kernel (``nade_cpu.cpp``); same signature."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, W: Tensor, c: Tensor, V: Tensor, b: Tensor, block: int) -> Tensor:
        lib = native_library()
        assert lib is not None
        n, d = x.shape
        h_dim = W.shape[0]
        x, c, V, b = x.contiguous(), c.contiguous(), V.contiguous(), b.contiguous()
        wt = W.detach().t().contiguous()
        logits = torch.empty(n, d, dtype=W.dtype)
        ckpt = torch.empty((d + block - 1) // block, n, h_dim, dtype=W.dtype)
        getattr(lib, f"nade_forward_{_suffix(W)}")(
            x.data_ptr(), wt.data_ptr(), c.data_ptr(), V.data_ptr(), b.data_ptr(), logits.data_ptr(),
            ckpt.data_ptr(), n, d, h_dim, block,
        )
        ctx.block = block
        ctx.save_for_backward(x, wt, V, ckpt)
        return logits

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        lib = native_library()
        assert lib is not None
        x, wt, V, ckpt = ctx.saved_tensors
        n, d = x.shape
        h_dim = wt.shape[1]
        g = grad.contiguous()
        d_wt, d_v = torch.zeros_like(wt), torch.zeros_like(V)
        d_c, d_b = torch.zeros(h_dim, dtype=wt.dtype), torch.zeros(d, dtype=wt.dtype)
        d_x = torch.empty(n, d, dtype=wt.dtype) if ctx.needs_input_grad[0] else None
        getattr(lib, f"nade_backward_{_suffix(wt)}")(
            g.data_ptr(), x.data_ptr(), wt.data_ptr(), V.data_ptr(), ckpt.data_ptr(), d_wt.data_ptr(),
            d_c.data_ptr(), d_v.data_ptr(), d_b.data_ptr(), None if d_x is None else d_x.data_ptr(),
            n, d, h_dim, ctx.block,
        )
        return d_x, d_wt.t(), d_c, d_v, d_b, None


def nade_logits(
    x: Tensor, W: Tensor, c: Tensor, V: Tensor, b: Tensor, block: int = 16, impl: str = "auto"
) -> Tensor:
    """``(N, D)`` NADE logits (Larochelle & Murray 2011, Eqs. 2-4).

    ``impl="native"``: the CPU kernel :class:`NADELogitsNative`; ``"torch"``: the blocked torch
    formulation :class:`NADELogits`; ``"auto"`` (default): native for float32/float64 CPU tensors when
    it builds (and ``$GENZOO_NADE_KERNEL`` is not ``torch``), else torch.
    """
    if block < 1:
        raise ValueError(f"block must be a positive number of pixels, got {block}")
    if impl not in ("auto", "native", "torch"):
        raise ValueError(f"impl must be 'auto', 'native' or 'torch', got {impl!r}")
    x = x.reshape(x.shape[0], -1).to(W.dtype)
    if impl == "auto":
        usable = W.device.type == "cpu" and W.dtype in (torch.float32, torch.float64)
        wanted = os.environ.get("GENZOO_NADE_KERNEL", "auto") != "torch"
        impl = "native" if usable and wanted and native_library() is not None else "torch"
    if impl == "native":
        if native_library() is None:
            raise RuntimeError(f"the native NADE kernel is unavailable ({_LIB_ERROR})")
        return NADELogitsNative.apply(x, W, c, V, b, block)
    return NADELogits.apply(x, W, c, V, b, block)
