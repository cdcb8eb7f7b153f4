/* Rprop with Paddle's numerics: the fused form of oar.rprop.rprop_update.
 * S: prevs, learning_rates. H: eta_negative, eta_positive, lr_min, lr_max.
 * One pass: reads p, g, prev, step and writes p, prev, step. */
#ifndef REAL
#define OAR_SELF "rprop.c"
#define OAR_F32 oar_rprop_f32
#define OAR_F64 oar_rprop_f64
#define OAR_BF16 oar_rprop_bf16
#define OAR_NSTATE 2
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  (void)W;
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      const double *h = H + 4 * t;
      const REAL eta_neg = (REAL)h[0], eta_pos = (REAL)h[1], lo_ = (REAL)h[2], hi_ = (REAL)h[3];
      OAR_PIECE_PG
      REAL *restrict prev = S[NSA * t] + off;
      REAL *restrict step = S[NSA * t + 1] + off;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL s = gi * prev[i];
        REAL eta = s > (REAL)0 ? eta_pos : (s < (REAL)0 ? eta_neg : (REAL)1);
        gi = s < (REAL)0 ? (REAL)0 : gi;
        REAL st = step[i] * eta;
        st = st < lo_ ? lo_ : st; /* clamp(st, lo, hi) = min(max(st, lo), hi), NaN kept */
        st = st > hi_ ? hi_ : st;
        REAL sg = gi > (REAL)0 ? (REAL)1 : (gi < (REAL)0 ? (REAL)-1 : (REAL)0); /* sign(NaN) = 0 */
        step[i] = st;
        prev[i] = gi;
        STORE_P(i, LOAD_P(i) - sg * st);
      }
    }
  }
  return 0;
}
#endif
