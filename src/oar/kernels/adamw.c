/* AdamW with Paddle's numerics: the fused form of oar.adamw.adamw_update (dense, no amsgrad).
 * S: moment1, moment2. W: beta1_pow_acc, beta2_pow_acc.
 * H: lr, beta1, beta2, epsilon, coeff, lr_ratio, with_decay (0 or 1).
 * One pass: reads p, g, m, v and writes p, m, v. With lr' = lr lr_ratio:
 *   with_decay: p = p - (lr' coeff) p ;  then Adam with lr' on the decayed p. */
#ifndef REAL
#define OAR_SELF "adamw.c"
#define OAR_F32 oar_adamw_f32
#define OAR_F64 oar_adamw_f64
#define OAR_BF16 oar_adamw_bf16
#define OAR_NSTATE 2
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  enum { NK = 7, NH = 7 };
  REAL *k = malloc(sizeof(REAL) * NK * (T > 0 ? T : 1));
  if (!k) return OAR_ENOMEM;
  for (int64_t t = 0; t < T; t++) {
    const double *h = H + NH * t;
    REAL b1p = *W[2 * t], b2p = *W[2 * t + 1];
    REAL bc2 = SQRT((REAL)1 - b2p);                       /* sqrt(1 - beta2^t) */
    const REAL b1 = (REAL)h[1], b2 = (REAL)h[2];
    const REAL lr = (REAL)h[0] * (REAL)h[5];              /* lr' = lr lr_ratio */
    k[NK * t + 0] = b1;                                   /* beta1 */
    k[NK * t + 1] = (REAL)1 - b1;                         /* 1 - beta1, in REAL */
    k[NK * t + 2] = b2;                                   /* beta2 */
    k[NK * t + 3] = (REAL)1 - b2;                         /* 1 - beta2, in REAL */
    k[NK * t + 4] = (lr * bc2) / ((REAL)1 - b1p);         /* alpha = lr' bc2 / (1 - beta1^t) */
    k[NK * t + 5] = (REAL)h[3] * bc2;                     /* epsilon bc2 */
    k[NK * t + 6] = h[6] != 0.0 ? lr * (REAL)h[4] : 0;    /* decay lr' coeff (0: none) */
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
      const REAL decay = kt[6];
      const int with_decay = H[NH * t + 6] != 0.0;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL pi = LOAD_P(i);
        if (with_decay) pi = pi - decay * pi;
        REAL mi = m[i] * b1 + gi * c1;
        REAL vi = v[i] * b2 + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        STORE_P(i, pi - (mi / (SQRT(vi) + eps)) * alpha);
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
