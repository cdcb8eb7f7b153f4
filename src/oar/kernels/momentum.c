/* Momentum with Paddle's numerics: the fused form of oar.momentum.momentum_update (dense).
 * S: velocity. H: lr, momentum, rescale_grad, l2 coefficient, use_nesterov (0 or 1),
 * fused l2 (0 or 1). One pass: reads p, g, v and writes p, v. */
#ifndef REAL
#define OAR_SELF "momentum.c"
#define OAR_F32 oar_momentum_f32
#define OAR_F64 oar_momentum_f64
#define OAR_BF16 oar_momentum_bf16
#define OAR_NSTATE 1
#include "dtypes.h"
#else
/* g' = g rescale (+ c p); v = mu v + g'; p = p - lr v, or Nesterov p = p - (g' + mu v) lr.
 * g * 1.0 is g exactly, so rescale needs no branch; the L2 term does (p * 0 is NaN for p inf). */
#define OAR_MOMENTUM_LOOP(L2, NESTEROV)                                        \
  _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                        \
    REAL pi = LOAD_P(i);                                                       \
    REAL gi = LOAD_G(i) * rs;                                                  \
    if (L2) gi = gi + c * pi;                                                  \
    REAL vi = v[i] * mu + gi;                                                  \
    v[i] = vi;                                                                 \
    STORE_P(i, (NESTEROV) ? pi - (gi + vi * mu) * lr : pi - lr * vi);         \
  }
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  (void)W;
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      const double *h = H + 6 * t;
      const REAL lr = (REAL)h[0], mu = (REAL)h[1], rs = (REAL)h[2], c = (REAL)h[3];
      OAR_PIECE_PG
      REAL *restrict v = S[NSA * t] + off;
      if (h[5] != 0.0) {
        if (h[4] != 0.0) {
          OAR_MOMENTUM_LOOP(1, 1)
        } else {
          OAR_MOMENTUM_LOOP(1, 0)
        }
      } else if (h[4] != 0.0) {
        OAR_MOMENTUM_LOOP(0, 1)
      } else {
        OAR_MOMENTUM_LOOP(0, 0)
      }
    }
  }
  return 0;
}
#undef OAR_MOMENTUM_LOOP
#endif
