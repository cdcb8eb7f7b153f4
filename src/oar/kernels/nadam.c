/* NAdam with Paddle's numerics: the fused form of oar.nadam.nadam_update.
 * S: moment1, moment2. W: momentum_decay_pow, beta2_pow, mu_product (advanced first, as Paddle).
 * H: lr, beta1, beta2, epsilon, momentum_decay.
 * One pass: reads p, g, m, v and writes p, m, v. */
#ifndef REAL
#define OAR_SELF "nadam.c"
#define OAR_F32 oar_nadam_f32
#define OAR_F64 oar_nadam_f64
#define OAR_NSTATE 2
#include "dtypes.h"
#else
#ifndef OAR_NADAM_POW
#define OAR_NADAM_POW(x, y) _Generic((x), float: powf, default: pow)(x, y)
#endif
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  enum { NK = 14 };
  REAL *k = malloc(sizeof(REAL) * NK * (T > 0 ? T : 1));
  if (!k) return OAR_ENOMEM;
  for (int64_t t = 0; t < T; t++) {
    const double *h = H + 5 * t;
    const REAL b1 = (REAL)h[1], b2 = (REAL)h[2], psi = (REAL)h[4];
    const REAL d = *W[3 * t] * (REAL)0.96;                /* 0.96^t */
    const REAL b2p = *W[3 * t + 1] * b2;                  /* beta2^t */
    const REAL d_psi = OAR_NADAM_POW(d, psi);
    const REAL mu_t = b1 * ((REAL)1 - (REAL)0.5 * d_psi);
    const REAL mu_t1 = b1 * ((REAL)1 - ((REAL)0.5 * d_psi) * OAR_NADAM_POW((REAL)0.96, psi));
    const REAL mu = *W[3 * t + 2] * mu_t;                 /* mu_product */
    const REAL mu1 = mu * mu_t1;
    REAL *kt = k + NK * t;
    kt[0] = b1;
    kt[1] = (REAL)1 - b1;
    kt[2] = b2;
    kt[3] = (REAL)1 - b2;
    kt[4] = mu_t1;
    kt[5] = (REAL)1 - mu1;
    kt[6] = (REAL)1 - mu_t;
    kt[7] = (REAL)1 - mu;
    kt[8] = (REAL)1 - b2p;
    kt[9] = (REAL)h[0];                                   /* lr */
    kt[10] = (REAL)h[3];                                  /* epsilon */
    kt[11] = d;
    kt[12] = b2p;
    kt[13] = mu;
  }
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      OAR_PIECE_PGMV
      const REAL *kt = k + NK * t;
      const REAL b1 = kt[0], c1 = kt[1], b2 = kt[2], c2 = kt[3], mu_t1 = kt[4], one_mu1 = kt[5];
      const REAL one_mu_t = kt[6], one_mu = kt[7], one_b2p = kt[8], lr = kt[9], eps = kt[10];
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL mi = m[i] * b1 + gi * c1;
        REAL vi = v[i] * b2 + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        REAL m_hat = (mu_t1 * mi) / one_mu1 + (one_mu_t * gi) / one_mu;
        STORE_P(i, LOAD_P(i) - (lr * m_hat) / (SQRT(vi / one_b2p) + eps));
      }
    }
  }
  for (int64_t t = 0; t < T; t++) {
    *W[3 * t] = k[NK * t + 11];
    *W[3 * t + 1] = k[NK * t + 12];
    *W[3 * t + 2] = k[NK * t + 13];
  }
  free(k);
  return 0;
}
#endif
