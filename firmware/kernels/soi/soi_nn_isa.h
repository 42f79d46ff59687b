/* ISA selection of the project's kernels, the one definition of SOI_NN_MVE and SOI_NN_DSP: included by
 * soi_nn_support.h (the CMSIS-style kernels in kernels/src) and by the project's own kernels in kernels/soi,
 * which are also built when the user's CMSIS-NN replaces kernels/include, hence a header of its own here.
 * Only macros: the intrinsic headers (arm_mve.h, arm_acle.h) are included by whoever uses them.
 *
 * SOI_NN_MVE: Helium cores (their MVE paths). SOI_NN_DSP: the DSP extension without MVE (the DSP paths),
 * or the host under SOI_NN_EMULATE_DSP, which runs the DSP paths with C models of the instructions so that
 * the word-level data layout is checked without an Arm target. Code that needs the real instructions
 * (intrinsics, inline assembly) tests __ARM_FEATURE_DSP as well. */
#ifndef SOI_NN_ISA_H
#define SOI_NN_ISA_H

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define SOI_NN_MVE 1
#elif defined(__ARM_FEATURE_DSP)
#define SOI_NN_DSP 1
#elif defined(SOI_NN_EMULATE_DSP)
#define SOI_NN_DSP 1
#endif

#endif
