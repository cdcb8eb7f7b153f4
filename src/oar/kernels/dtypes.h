/* Instantiates a kernel file per param dtype: the file defines OAR_SELF (its own name), OAR_NSTATE
 * (its element-wise states), OAR_F32 and OAR_F64 (its symbols), and OAR_BF16 if it also takes
 * bfloat16 params with float32 master weights; it includes this header when REAL is undefined
 * and holds its kernel under `#else`, written with REAL, SQRT, NAME, NSA (states per param,
 * master included) and the param accessors LOAD_P, STORE_P, LOAD_G. */
#include "common.h"
#define LOAD_P(i) p[i]
#define STORE_P(i, x) (p[i] = (x))
#define LOAD_G(i) g[i]
#define MASTER_DECL
#define NSA OAR_NSTATE

#define REAL float
#define PARAM_T float
#define SQRT sqrtf
#define NAME OAR_F32
#include OAR_SELF
#undef REAL
#undef PARAM_T
#undef SQRT
#undef NAME

#define REAL double
#define PARAM_T double
#define SQRT sqrt
#define NAME OAR_F64
#include OAR_SELF
#undef REAL
#undef PARAM_T
#undef SQRT
#undef NAME

#ifdef OAR_BF16
/* bfloat16 params and grads; float32 state, and the float32 master weight as the last state */
#undef LOAD_P
#undef STORE_P
#undef LOAD_G
#undef MASTER_DECL
#undef NSA
#define LOAD_P(i) w[i]
#define STORE_P(i, x) (w[i] = (x), p[i] = oar_f32_to_bf16(w[i]))
#define LOAD_G(i) oar_bf16_to_f32(g[i])
#define MASTER_DECL REAL *restrict w = S[NSA * t + OAR_NSTATE] + off;
#define NSA (OAR_NSTATE + 1)
#define REAL float
#define PARAM_T uint16_t
#define SQRT sqrtf
#define NAME OAR_BF16
#include OAR_SELF
#endif
