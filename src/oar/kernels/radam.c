/* RAdam with Paddle's numerics: the fused form of oar.radam.radam_update.
 * S: moment1, moment2. W: beta1_pow, beta2_pow, rho (advanced first, as Paddle). H: lr, beta1,
 * beta2, epsilon. The rectification test (rho_t > 5) is one decision per tensor, as Paddle's.
 * One pass: reads p, g, m, v and writes p, m, v. */
#ifndef REAL
#define OAR_SELF "radam.c"
#define OAR_F32 oar_radam_f32
#define OAR_F64 oar_radam_f64
#define OAR_NSTATE 2
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  enum { NK = 13 };
  REAL *k = malloc(sizeof(REAL) * NK * (T > 0 ? T : 1));
  if (!k) return OAR_ENOMEM;
  for (int64_t t = 0; t < T; t++) {
    const double *h = H + 4 * t;
    const REAL b1 = (REAL)h[1], b2 = (REAL)h[2];
    const REAL b1p = *W[3 * t] * b1, b2p = *W[3 * t + 1] * b2;
    const REAL rho = (*W[3 * t + 2] * (b2 - b2p) + b2p) / ((REAL)1 - b2p);
    const REAL rho_inf = (REAL)2 / ((REAL)1 - b2) - (REAL)1;
    const REAL rho_t = rho_inf - (REAL)2 * rho;
    REAL *kt = k + NK * t;
    kt[0] = b1;
    kt[1] = (REAL)1 - b1;
    kt[2] = b2;
    kt[3] = (REAL)1 - b2;
    kt[4] = (REAL)1 - b1p;
    kt[5] = (REAL)h[0];                                   /* lr */
    kt[6] = (REAL)h[3];                                   /* epsilon */
    kt[7] = rho_t > (REAL)5;                              /* rectified */
    kt[8] = kt[7] != (REAL)0                              /* r_t */
                ? SQRT(((rho_t - (REAL)4) * (rho_t - (REAL)2) * rho_inf) /
                       ((rho_inf - (REAL)4) * (rho_inf - (REAL)2) * rho_t))
                : (REAL)1;
    kt[9] = SQRT((REAL)1 - b2p);                          /* sqrt(1 - beta2^t) */
    kt[10] = b1p;
    kt[11] = b2p;
    kt[12] = rho;
  }
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      OAR_PIECE_PGMV
      const REAL *kt = k + NK * t;
      const REAL b1 = kt[0], c1 = kt[1], b2 = kt[2], c2 = kt[3], one_b1p = kt[4], lr = kt[5];
      const REAL eps = kt[6], r_t = kt[8], bc2 = kt[9];
      const int rect = kt[7] != (REAL)0;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL mi = m[i] * b1 + gi * c1;
        REAL vi = v[i] * b2 + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        REAL step = lr * (mi / one_b1p);
        REAL l_t = bc2 / (SQRT(vi) + eps);
        STORE_P(i, LOAD_P(i) - (rect ? (step * r_t) * l_t : step));
      }
    }
  }
  for (int64_t t = 0; t < T; t++) {
    *W[3 * t] = k[NK * t + 10];
    *W[3 * t + 1] = k[NK * t + 11];
    *W[3 * t + 2] = k[NK * t + 12];
  }
  free(k);
  return 0;
}
#endif
