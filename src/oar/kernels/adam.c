/* Adam with Paddle's numerics: the fused form of oar.adam.adam_update (dense, no amsgrad).
 * S: moment1, moment2. W: beta1_pow_acc, beta2_pow_acc. H: lr, beta1, beta2, epsilon.
 * One pass: reads p, g, m, v and writes p, m, v. */
#ifndef REAL
#define OAR_SELF "adam.c"
#define OAR_F32 oar_adam_f32
#define OAR_F64 oar_adam_f64
#define OAR_BF16 oar_adam_bf16
#define OAR_NSTATE 2
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  enum { NK = 6 };
  REAL *k = malloc(sizeof(REAL) * NK * (T > 0 ? T : 1));
  if (!k) return OAR_ENOMEM;
  for (int64_t t = 0; t < T; t++) {
    const double *h = H + 4 * t;
    REAL b1p = *W[2 * t], b2p = *W[2 * t + 1];
    REAL bc2 = SQRT((REAL)1 - b2p);                        /* sqrt(1 - beta2^t) */
    const REAL b1 = (REAL)h[1], b2 = (REAL)h[2];
    k[NK * t + 0] = b1;                                    /* beta1 */
    k[NK * t + 1] = (REAL)1 - b1;                          /* 1 - beta1, in REAL */
    k[NK * t + 2] = b2;                                    /* beta2 */
    k[NK * t + 3] = (REAL)1 - b2;                          /* 1 - beta2, in REAL */
    k[NK * t + 4] = ((REAL)h[0] * bc2) / ((REAL)1 - b1p);  /* alpha = lr bc2 / (1 - beta1^t) */
    k[NK * t + 5] = (REAL)h[3] * bc2;                      /* epsilon bc2 */
  }
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      OAR_PIECE_PGMV
      const REAL *kt = k + NK * t;
      const REAL b1 = kt[0], c1 = kt[1], b2 = kt[2], c2 = kt[3], alpha = kt[4], eps = kt[5];
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL mi = m[i] * b1 + gi * c1;
        REAL vi = v[i] * b2 + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        STORE_P(i, LOAD_P(i) - (mi / (SQRT(vi) + eps)) * alpha);
      }
    }
  }
  for (int64_t t = 0; t < T; t++) {
    *W[2 * t] = *W[2 * t] * k[NK * t + 0];
    *W[2 * t + 1] = *W[2 * t + 1] * k[NK * t + 2];
  }
  free(k);
  return 0;
}
#endif
