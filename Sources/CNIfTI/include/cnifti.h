// A small C API over niftilib (nifti2_io, which reads NIfTI-1 and NIfTI-2 and writes either).
// niftilib's own headers include <znzlib.h> from /usr/include/nifti, which Swift clients cannot
// find without an include path, so they stay inside nifti.c.
//
// Ownership: mn_nifti_read returns voxel data allocated with malloc; the caller releases it with
// mn_nifti_free_data. mn_nifti_write never takes ownership of the caller's buffer.
#ifndef CNIFTI_H
#define CNIFTI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// NIfTI data type codes used by MambaNode (nifti1.h DT_*).
enum {
    MN_NIFTI_UINT8 = 2,
    MN_NIFTI_INT16 = 4,
    MN_NIFTI_INT32 = 8,
    MN_NIFTI_FLOAT32 = 16,
    MN_NIFTI_FLOAT64 = 64,
    MN_NIFTI_INT8 = 256,
    MN_NIFTI_UINT16 = 512,
    MN_NIFTI_UINT32 = 768,
};

/// The header fields MambaNode reads and writes. Matrices map (i, j, k, 1) to RAS+ millimetres,
/// row-major 3×4 (the fourth row is 0 0 0 1).
typedef struct mn_nifti_header {
    int64_t dim[3];
    double pixdim[3];
    int datatype;
    double scl_slope;
    double scl_inter;
    int qform_code;
    int sform_code;
    double qform[3][4];
    double sform[3][4];
    char descrip[80];
} mn_nifti_header;

/// Writes a 3D NIfTI-1 file (gzip-compressed when `path` ends in .gz). `data` holds
/// dim[0]*dim[1]*dim[2] voxels of `datatype`, i fastest. qform and sform are both set from
/// `header->sform` (NIFTI_XFORM_SCANNER_ANAT, as dcm2niix does). Returns 0 or -1 with `error`.
int mn_nifti_write(const char *path, const mn_nifti_header *header, const void *data, char *error, size_t error_size);

/// Writes `data` (dim[0]*dim[1]*dim[2] floats, every one an integer in int16's range, which the
/// caller has checked) as an INT16 NIfTI-1 file, converting a block at a time; `header->datatype`
/// is ignored. Returns 0 or -1 with `error`.
int mn_nifti_write_float_as_int16(const char *path, const mn_nifti_header *header, const float *data, char *error,
                                  size_t error_size);

/// Reads a NIfTI-1 or NIfTI-2 file (3D, or the first volume of 4D). On success `*data` is the
/// voxel buffer in the file's datatype (unscaled). Returns 0 or -1 with `error`.
int mn_nifti_read(const char *path, mn_nifti_header *header, void **data, char *error, size_t error_size);

void mn_nifti_free_data(void *data);

/// 1 when every one of the `n` floats is an integer in [-32768, 32767], else 0 (no output).
int mn_float_is_int16_exact(const float *in, size_t n);

#ifdef __cplusplus
}
#endif
#endif
