/* Adagrad with Paddle's numerics: the fused form of oar.adagrad.adagrad_update (dense).
 * S: moment. H: lr, epsilon.
 * One pass: reads p, g, mom and writes p, mom:  mom = mom + g g ;  p = p - (lr g) / (sqrt(mom) + eps) */
#ifndef REAL
#define OAR_SELF "adagrad.c"
#define OAR_F32 oar_adagrad_f32
#define OAR_F64 oar_adagrad_f64
#define OAR_NSTATE 1
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
      const REAL lr = (REAL)H[2 * t], eps = (REAL)H[2 * t + 1];
      OAR_PIECE_PG
      REAL *restrict mom = S[NSA * t] + off;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL mi = mom[i] + gi * gi;
        mom[i] = mi;
        STORE_P(i, LOAD_P(i) - (gi * lr) / (SQRT(mi) + eps));
      }
    }
  }
  return 0;
}
#endif
