#ifndef MAMBANODE_COPENBLAS_SHIM_H
#define MAMBANODE_COPENBLAS_SHIM_H
// cblas.h of OpenBLAS also declares openblas_get_corename/openblas_set_num_threads,
// which the engine needs for core detection (docs/platform-notes.md §1) and thread control.
#include <cblas.h>
#endif
