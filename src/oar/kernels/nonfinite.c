/* The non-finite guard's check (oar.step_check, skip_nonfinite=True): whether any element of the
 * grads G[0..T) (N[t] contiguous elements each, PARAM_T) is a NaN or an inf. One read of every
 * grad in one parallel region, nothing written: g * 0 is 0 (or -0) for a finite g and NaN for a
 * NaN or an inf, so the sum of those products is 0 exactly when every element is finite (a sum of
 * zeros never overflows; bfloat16 grads are widened to float32 first, exactly).
 * P, S, W, H: unused. Returns 0 (all finite) or OAR_NONFINITE. */
#ifndef REAL
#define OAR_SELF "nonfinite.c"
#define OAR_F32 oar_nonfinite_f32
#define OAR_F64 oar_nonfinite_f64
#define OAR_BF16 oar_nonfinite_bf16
#define OAR_NSTATE 0
#define OAR_NONFINITE 1
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  (void)P;
  (void)S;
  (void)W;
  (void)H;
  int64_t total = oar_total(T, N);
  int bad = 0;
#pragma omp parallel num_threads(oar_threads(total, nthreads)) reduction(| : bad)
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    REAL acc = 0;
    OAR_FOR_PIECES(T, N, lo, hi) {
      const PARAM_T *restrict g = (const PARAM_T *)G[t] + off;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < n; i++) acc += LOAD_G(i) * (REAL)0;
    }
    bad |= !(acc == 0);
  }
  return bad ? OAR_NONFINITE : 0;
}
#endif
