// NADE's conditionals on the CPU in one pass per pixel (Larochelle & Murray 2011, Eqs. 2-4 and the
// O(DH) gradient recurrence of their Sec. 3). Plain C++ with a C interface (no torch headers, so it
// builds in about a second): genzoo/nn/nade_fused.py compiles it on first use with the system's g++
// into genzoo's cache and calls it through ctypes on tensors' data pointers; without a compiler the
// Python side falls back to the blocked torch formulation. Single-threaded; loops run pixel-major so
// that the N x H running pre-activations stay in the L2 cache and each H-long inner loop is
// vectorised (expf from glibc's libmvec under -ffast-math).
//
//   a_d = c + sum_{k<d} W[:, k] x_k,   h_d = sigmoid(a_d),   logit_d = b_d + V[d] . h_d
//
// nade_forward_{f32,f64}(x, Wt, c, V, b, logits, checkpoints, N, D, H, block): logits (N, D); a_d is
//   saved every `block` pixels into checkpoints (ceil(D/block), N, H), so the backward can recompute
//   the a_d of one block exactly (with the same operations).
// nade_backward_{f32,f64}(g, x, Wt, V, checkpoints, dWt, dc, dV, db, dx, N, D, H, block): gradients
//   into zero-filled dWt (D, H), dc (H), dV (D, H) and db (D), and into dx (N, D) unless it is null,
//   going from the last pixel to the first with acc[n] = sum_{d' > d} dL/da_{d'}[n]:
//     dW[:, d] = sum_n x[n, d] acc[n]      (before adding pixel d's own term)
//     dx[n, d] = W[:, d] . acc[n]         (the same acc: x_d reaches only later pixels)
//     dV[d]    = sum_n g[n, d] h_d[n]
//     dL/da_d  = g[n, d] V[d] h_d (1 - h_d),  acc[n] += dL/da_d
//     dc       = sum_n acc[n] (after the first pixel),  db[d] = sum_n g[n, d]

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

// sigmoid without overflow: exp(-|a|) is in (0, 1], so no pre-activation, however large, makes an inf
// (under -ffast-math an inf is undefined behaviour: 1 / (1 + exp(-a)) gave NaN once |a| > 88 in float).
// a >= 0: 1 / (1 + e);  a < 0: e / (1 + e), which keeps the small values' precision.
template <typename T>
inline T sigm(T a) {
  const T e = std::exp(-std::abs(a));
  const T r = T(1) / (T(1) + e);
  return a >= T(0) ? r : e * r;
}

template <typename T>
void forward_impl(const T* x, const T* wt, const T* c, const T* v, const T* b, T* logits, T* ckpt,
                  int64_t n, int64_t d, int64_t h, int64_t block) {
  std::vector<T> acts(n * h);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < h; ++k) acts[i * h + k] = c[k];
  for (int64_t p = 0; p < d; ++p) {
    if (p % block == 0) std::copy(acts.begin(), acts.end(), ckpt + (p / block) * n * h);
    const T* w = wt + p * h;
    const T* vp = v + p * h;
    for (int64_t i = 0; i < n; ++i) {
      T* a = acts.data() + i * h;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < h; ++k) s += sigm(a[k]) * vp[k];
      logits[i * d + p] = s + b[p];
      const T xv = x[i * d + p];
      if (xv != T(0)) {
#pragma omp simd
        for (int64_t k = 0; k < h; ++k) a[k] += xv * w[k];
      }
    }
  }
}

template <typename T>
void backward_impl(const T* g, const T* x, const T* wt, const T* v, const T* ckpt, T* dwt, T* dc, T* dv,
                   T* db, T* dx, int64_t n, int64_t d, int64_t h, int64_t block) {
  std::vector<T> acc(n * h, T(0));
  std::vector<T> buf(block * n * h);
  const int64_t nblocks = (d + block - 1) / block;
  for (int64_t blk = nblocks - 1; blk >= 0; --blk) {
    const int64_t s = blk * block, e = std::min(s + block, d);
    // recompute a_s .. a_{e-1} from the checkpoint, with the forward's operations
    std::copy(ckpt + blk * n * h, ckpt + (blk + 1) * n * h, buf.begin());
    for (int64_t p = s + 1; p < e; ++p) {
      T* cur = buf.data() + (p - s) * n * h;
      const T* prev = cur - n * h;
      const T* w = wt + (p - 1) * h;
      for (int64_t i = 0; i < n; ++i) {
        const T xv = x[i * d + p - 1];
        T* a = cur + i * h;
        const T* a0 = prev + i * h;
        if (xv != T(0)) {
#pragma omp simd
          for (int64_t k = 0; k < h; ++k) a[k] = a0[k] + xv * w[k];
        } else {
          std::copy(a0, a0 + h, a);
        }
      }
    }
    for (int64_t p = e - 1; p >= s; --p) {
      const T* vp = v + p * h;
      const T* wp = wt + p * h;
      T* dvp = dv + p * h;
      T* dwp = dwt + p * h;
      const T* ap = buf.data() + (p - s) * n * h;
      T gsum = 0;
      for (int64_t i = 0; i < n; ++i) {
        T* ac = acc.data() + i * h;
        const T xv = x[i * d + p];
        if (xv != T(0)) {
#pragma omp simd
          for (int64_t k = 0; k < h; ++k) dwp[k] += xv * ac[k];
        }
        if (dx != nullptr) {  // dL/dx[n, p] = W[:, p] . acc[n]
          T dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int64_t k = 0; k < h; ++k) dot += wp[k] * ac[k];
          dx[i * d + p] = dot;
        }
        const T gi = g[i * d + p];
        gsum += gi;
        const T* a = ap + i * h;
#pragma omp simd
        for (int64_t k = 0; k < h; ++k) {
          const T hk = sigm(a[k]);
          dvp[k] += gi * hk;
          ac[k] += gi * vp[k] * hk * (T(1) - hk);
        }
      }
      db[p] = gsum;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < h; ++k) dc[k] += acc[i * h + k];
}

}  // namespace

extern "C" {

void nade_forward_f32(const float* x, const float* wt, const float* c, const float* v, const float* b, float* logits,
                      float* ckpt, int64_t n, int64_t d, int64_t h, int64_t block) {
  forward_impl<float>(x, wt, c, v, b, logits, ckpt, n, d, h, block);
}

void nade_forward_f64(const double* x, const double* wt, const double* c, const double* v, const double* b,
                      double* logits, double* ckpt, int64_t n, int64_t d, int64_t h, int64_t block) {
  forward_impl<double>(x, wt, c, v, b, logits, ckpt, n, d, h, block);
}

void nade_backward_f32(const float* g, const float* x, const float* wt, const float* v, const float* ckpt, float* dwt,
                       float* dc, float* dv, float* db, float* dx, int64_t n, int64_t d, int64_t h, int64_t block) {
  backward_impl<float>(g, x, wt, v, ckpt, dwt, dc, dv, db, dx, n, d, h, block);
}

void nade_backward_f64(const double* g, const double* x, const double* wt, const double* v, const double* ckpt,
                       double* dwt, double* dc, double* dv, double* db, double* dx, int64_t n, int64_t d,
                       int64_t h, int64_t block) {
  backward_impl<double>(g, x, wt, v, ckpt, dwt, dc, dv, db, dx, n, d, h, block);
}

}  // extern "C"
