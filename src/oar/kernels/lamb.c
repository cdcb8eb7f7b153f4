/* LAMB with Paddle's numerics: the fused form of oar.lamb.lamb_update.
 * S: moment1, moment2. W: beta1_pow_acc, beta2_pow_acc.
 * H: lr, beta1, beta2, epsilon, weight_decay, always_adapt (0 or 1).
 *
 * A param with a trust ratio takes two streaming passes: pass 1 reads p, g, m, v, writes m, v
 * and sums p^2 and r^2 (r = m^/(sqrt(v^)+eps) + wd p); pass 2 reads p, m, v, recomputes r and
 * writes p - lr ratio r. Without a trust ratio (wd = 0, always_adapt off) pass 1 also writes p.
 * As in the compiled engine, m and v are multiplied by the reciprocals of their bias corrections
 * (the divider bounds this loop otherwise): r differs from the eager rule's by float rounding.
 * Sums of squares are accumulated in REAL over pieces of OAR_PIECE elements, then in double. */
#ifndef REAL
#define OAR_SELF "lamb.c"
#define OAR_F32 oar_lamb_f32
#define OAR_F64 oar_lamb_f64
#define OAR_BF16 oar_lamb_bf16
#define OAR_NSTATE 2
#define OAR_CAT_(a, b) a##b
#define OAR_CAT(a, b) OAR_CAT_(a, b)
#include "dtypes.h"
#else
/* Pass 1 for element i: the new moments, stored, and r (uses p, g, m, v and the constants). */
#define LAMB_PASS1_R                                            \
  REAL gi = LOAD_G(i), pi = LOAD_P(i);                          \
  REAL mi = m[i] * b1 + gi * c1;                                \
  REAL vi = v[i] * b2 + (c2 * gi) * gi;                         \
  m[i] = mi;                                                    \
  v[i] = vi;                                                    \
  REAL r = (mi * r1) / (SQRT(vi * r2) + eps) + wd * pi;
/* mode 0: the whole step. The split form, for params sharded over ranks (oar.engine.sharded):
 * mode 1 (NAME_sums) runs pass 1 and writes each param's sums of p^2 and r^2 to sums[2t], sums[2t+1]
 * (the params without a trust ratio are finished); mode 2 (NAME_apply) runs pass 2 with sums
 * holding the whole params' sums, and updates the beta pows. */
static int OAR_CAT(NAME, _impl)(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N,
                                const double *H, int nthreads, int mode, double *sums) {
  enum { NK = 10 };
  int64_t total = oar_total(T, N);
  int nt = oar_threads(total, nthreads);
  int64_t TT = T > 0 ? T : 1;
  REAL *k = malloc(sizeof(REAL) * NK * TT);
  double *part = calloc((size_t)nt * TT * 2, sizeof(double));
  if (!k || !part) {
    free(k);
    free(part);
    return OAR_ENOMEM;
  }
  for (int64_t t = 0; t < T; t++) {
    const double *h = H + 6 * t;
    REAL b1p = *W[2 * t], b2p = *W[2 * t + 1];
    REAL *kt = k + NK * t;
    kt[0] = (REAL)h[1];                     /* beta1 */
    kt[1] = (REAL)1 - kt[0];                /* 1 - beta1, in REAL */
    kt[2] = (REAL)h[2];                     /* beta2 */
    kt[3] = (REAL)1 - kt[2];                /* 1 - beta2, in REAL */
    kt[4] = (REAL)1 / ((REAL)1 - b1p);      /* 1 / (1 - beta1^t) */
    kt[5] = (REAL)1 / ((REAL)1 - b2p);      /* 1 / (1 - beta2^t) */
    kt[6] = (REAL)h[3];                     /* epsilon */
    kt[7] = (REAL)h[4];                     /* weight decay */
    kt[8] = (h[4] > 0.0 || h[5] != 0.0) ? 1 : 0; /* has a trust ratio */
    kt[9] = (REAL)h[0];                     /* lr, the step when there is no trust ratio */
  }
#pragma omp parallel num_threads(nt)
  {
    int id = OAR_THREAD_ID(), nth = OAR_NUM_THREADS();
    int64_t lo, hi;
    oar_range(total, id, nth, &lo, &hi);
    double *mine = part + (size_t)id * TT * 2;
    if (mode != 2) OAR_FOR_PIECES(T, N, lo, hi) {
      OAR_PIECE_PGMV
      const REAL *kt = k + NK * t;
      const REAL b1 = kt[0], c1 = kt[1], b2 = kt[2], c2 = kt[3], r1 = kt[4], r2 = kt[5];
      const REAL eps = kt[6], wd = kt[7], lr = kt[9];
      if (kt[8] != 0) {
        REAL sp = 0, sr = 0;
#pragma omp simd reduction(+ : sp, sr)
        for (int64_t i = 0; i < n; i++) {
          LAMB_PASS1_R
          sp += pi * pi;
          sr += r * r;
        }
        mine[2 * t] += sp;
        mine[2 * t + 1] += sr;
      } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
          LAMB_PASS1_R
          STORE_P(i, pi - r * lr);
        }
      }
    }
#pragma omp barrier
#pragma omp single
    for (int64_t t = 0; t < T; t++) {
      REAL *kt = k + NK * t;
      if (kt[8] == 0) continue;
      double sp = 0, sr = 0;
      if (mode == 2) {
        sp = sums[2 * t];
        sr = sums[2 * t + 1];
      } else {
        for (int j = 0; j < nth; j++) {
          sp += part[((size_t)j * TT + t) * 2];
          sr += part[((size_t)j * TT + t) * 2 + 1];
        }
      }
      if (mode == 1) {
        sums[2 * t] = sp;
        sums[2 * t + 1] = sr;
        continue;
      }
      REAL pn = (REAL)sqrt(sp), rn = (REAL)sqrt(sr);
      REAL ratio = (pn > 0 && rn > 0) ? pn / rn : (REAL)1;
      kt[9] = (REAL)H[6 * t] * ratio; /* lr ratio */
    }
    /* the single's implicit barrier: every step size is known */
    if (mode != 1) OAR_FOR_PIECES(T, N, lo, hi) {
      const REAL *kt = k + NK * t;
      if (kt[8] != 0) {
        OAR_PIECE_PGMV
        (void)g;
        const REAL r1 = kt[4], r2 = kt[5], eps = kt[6], wd = kt[7], step = kt[9];
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
          REAL pi = LOAD_P(i);
          REAL r = (m[i] * r1) / (SQRT(v[i] * r2) + eps) + wd * pi;
          STORE_P(i, pi - r * step);
        }
      }
    }
  }
  for (int64_t t = 0; t < T && mode != 1; t++) {
    *W[2 * t] = *W[2 * t] * k[NK * t + 0];
    *W[2 * t + 1] = *W[2 * t + 1] * k[NK * t + 2];
  }
  free(k);
  free(part);
  return 0;
}
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  return OAR_CAT(NAME, _impl)(T, P, G, S, W, N, H, nthreads, 0, NULL);
}
int OAR_CAT(NAME, _sums)(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N,
                         const double *H, int nthreads, double *sums) {
  return OAR_CAT(NAME, _impl)(T, P, G, S, W, N, H, nthreads, 1, sums);
}
int OAR_CAT(NAME, _apply)(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N,
                          const double *H, int nthreads, double *sums) {
  return OAR_CAT(NAME, _impl)(T, P, G, S, W, N, H, nthreads, 2, sums);
}
#undef LAMB_PASS1_R
#endif
