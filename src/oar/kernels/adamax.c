/* Adamax with Paddle's numerics: the fused form of oar.adamax.adamax_update.
 * S: moment, inf_norm. W: beta1_pow_acc. H: lr, beta1, beta2, epsilon, pow_beta1.
 * One pass: reads p, g, m, u and writes p, m, u:
 *   m = b1 m + (1-b1) g ;  u = max(|g|, b2 u + eps) ;  p = p - (lr / (1-B1)) (m / u) ;
 * then B1 = B1 pow_beta1 (beta1 as given: Paddle's scale op, not the kernel's float beta1). */
#ifndef REAL
#define OAR_SELF "adamax.c"
#define OAR_F32 oar_adamax_f32
#define OAR_F64 oar_adamax_f64
#define OAR_NSTATE 2
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  enum { NH = 5 };
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      const double *h = H + NH * t;
      const REAL b1 = (REAL)h[1], c1 = (REAL)1 - b1, b2 = (REAL)h[2], eps = (REAL)h[3];
      const REAL lr_t = (REAL)h[0] / ((REAL)1 - *W[t]); /* lr / (1 - beta1^t) */
      OAR_PIECE_PG
      REAL *restrict m = S[NSA * t] + off;
      REAL *restrict u = S[NSA * t + 1] + off;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL mi = m[i] * b1 + gi * c1;
        REAL ui = u[i] * b2 + eps;
        REAL ag = gi < 0 ? -gi : gi;
        ui = ((ag != ag) | (ag > ui)) ? ag : ui; /* max(|g|, b2 u + eps); NaN wins, as torch.maximum */
        m[i] = mi;
        u[i] = ui;
        STORE_P(i, LOAD_P(i) - lr_t * (mi / ui));
      }
    }
  }
  for (int64_t t = 0; t < T; t++) *W[t] = *W[t] * (REAL)H[NH * t + 4];
  return 0;
}
#endif
