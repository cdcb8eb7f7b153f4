/* RMSProp with Paddle's numerics: the fused form of oar.rmsprop.rmsprop_update.
 * S: momentum, mean_square, mean_grad. H: lr, rho, epsilon, momentum, centered (0 or 1).
 * One pass: reads p, g, ms, mom (and mg when centered), writes them. */
#ifndef REAL
#define OAR_SELF "rmsprop.c"
#define OAR_F32 oar_rmsprop_f32
#define OAR_F64 oar_rmsprop_f64
#define OAR_NSTATE 3
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
      const double *h = H + 5 * t;
      const REAL lr = (REAL)h[0], rho = (REAL)h[1], c = (REAL)1 - rho, eps = (REAL)h[2];
      const REAL mu = (REAL)h[3];
      OAR_PIECE_PG
      REAL *restrict mom = S[NSA * t] + off;
      REAL *restrict ms = S[NSA * t + 1] + off;
      REAL *restrict mg = S[NSA * t + 2] + off;
      if (h[4] != 0.0) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
          REAL gi = LOAD_G(i);
          REAL msi = ms[i] * rho + (c * gi) * gi;
          REAL mgi = mg[i] * rho + gi * c;
          REAL momi = mom[i] * mu + (lr * gi) / SQRT((msi - mgi * mgi) + eps);
          ms[i] = msi;
          mg[i] = mgi;
          mom[i] = momi;
          STORE_P(i, LOAD_P(i) - momi);
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
          REAL gi = LOAD_G(i);
          REAL msi = ms[i] * rho + (c * gi) * gi;
          REAL momi = mom[i] * mu + (lr * gi) / SQRT(msi + eps);
          ms[i] = msi;
          mom[i] = momi;
          STORE_P(i, LOAD_P(i) - momi);
        }
      }
    }
  }
  return 0;
}
#endif
