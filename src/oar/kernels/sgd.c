/* SGD with Paddle's numerics: the fused form of oar.sgd.sgd_update (dense).
 * S: none (the float32 master weight for bfloat16). H: lr.
 * One pass: reads p, g and writes p. */
#ifndef REAL
#define OAR_SELF "sgd.c"
#define OAR_F32 oar_sgd_f32
#define OAR_F64 oar_sgd_f64
#define OAR_BF16 oar_sgd_bf16
#define OAR_NSTATE 0
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  (void)S;
  (void)W;
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      const REAL lr = (REAL)H[t];
      OAR_PIECE_PG
#pragma omp simd
      for (int64_t i = 0; i < n; i++) STORE_P(i, LOAD_P(i) - LOAD_G(i) * lr);
    }
  }
  return 0;
}
#endif
