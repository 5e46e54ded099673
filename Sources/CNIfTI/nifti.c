#include "cnifti.h"

#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_error(char *error, size_t size, const char *message, const char *path) {
    if (error && size > 0) snprintf(error, size, "%s: %s", path ? path : "", message);
}

// v as int16: NaN to 0, out-of-range values clamped (so the conversion is defined). Selects
// without branches, so the loops that call it vectorise.
static inline int16_t clamped_int16(float v) {
    float c = v < -32768.0f ? -32768.0f : v;
    c = c > 32767.0f ? 32767.0f : c;
    c = c == c ? c : 0.0f; // NaN
    return (int16_t)c;
}

// Converts `n` floats with clamped_int16.
static void float_to_int16(const float *in, int16_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = clamped_int16(in[i]);
}

// A new image for `header`, its file name set and any old file of that name removed; NULL with
// `error` set on failure.
static nifti_image *new_image(const char *path, const mn_nifti_header *header, char *error, size_t error_size) {
    int64_t dims[8] = {3, header->dim[0], header->dim[1], header->dim[2], 1, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(dims, header->datatype, 0);
    if (!nim) {
        set_error(error, error_size, "niftilib could not create the image (datatype?)", path);
        return NULL;
    }
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->dx = nim->pixdim[1] = header->pixdim[0];
    nim->dy = nim->pixdim[2] = header->pixdim[1];
    nim->dz = nim->pixdim[3] = header->pixdim[2];
    nim->scl_slope = header->scl_slope;
    nim->scl_inter = header->scl_inter;
    nim->xyz_units = NIFTI_UNITS_MM;
    memcpy(nim->descrip, header->descrip, sizeof nim->descrip);
    nim->descrip[79] = 0;

    nifti_dmat44 m;
    memset(&m, 0, sizeof m);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) m.m[r][c] = header->sform[r][c];
    m.m[3][3] = 1;
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sto_xyz = m;
    nim->sto_ijk = nifti_dmat44_inverse(m);
    // The qform is the same rigid transform as quaternion + offsets + qfac; niftilib derives it.
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nifti_dmat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                            &nim->qoffset_z, NULL, NULL, NULL, &nim->qfac);
    nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                           nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
    nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);

    if (nifti_set_filenames(nim, path, 0, 1) != 0) {
        nim->data = NULL;
        nifti_image_free(nim);
        set_error(error, error_size, "not a NIfTI file name (.nii or .nii.gz)", path);
        return NULL;
    }
    // niftilib reports write failures only on stderr, so success is judged by the file it
    // leaves: removed first, then read back. (Its size says nothing for .gz: a uniform label map
    // compresses to less than the 348-byte header.)
    remove(nim->fname);
    return nim;
}

// Reads back the header of the file `nim` was written to, frees `nim`; 0, or -1 with `error`.
static int finish(nifti_image *nim, int failed, const char *path, char *error, size_t error_size) {
    nim->data = NULL; // never niftilib's to free
    if (!failed) {
        nifti_image *back = nifti_image_read(nim->fname, 0);
        failed = !back || back->nx != nim->nx || back->ny != nim->ny || back->nz != nim->nz;
        if (back) nifti_image_free(back);
    }
    nifti_image_free(nim);
    if (failed) {
        set_error(error, error_size, "niftilib could not write the file", path);
        return -1;
    }
    return 0;
}

int mn_nifti_write(const char *path, const mn_nifti_header *header, const void *data, char *error, size_t error_size) {
    nifti_image *nim = new_image(path, header, error, error_size);
    if (!nim) return -1;
    nim->data = (void *)data;
    nifti_image_write(nim);
    return finish(nim, 0, path, error, error_size);
}

int mn_nifti_write_float_as_int16(const char *path, const mn_nifti_header *header, const float *data, char *error,
                                  size_t error_size) {
    mn_nifti_header h = *header;
    h.datatype = MN_NIFTI_INT16;
    nifti_image *nim = new_image(path, &h, error, error_size);
    if (!nim) return -1;
    // Header and extensions, then the file is left open at the voxel offset (write option 2).
    znzFile fp = nifti_image_write_hdr_img(nim, 2, "wb");
    if (znz_isnull(fp)) return finish(nim, 1, path, error, error_size);
    // Converted a block at a time into a buffer that stays in cache, instead of a whole Int16
    // copy of the volume whose every page would be faulted in and zeroed first.
    enum { block = 1 << 18 };
    int16_t *buffer = malloc(block * sizeof(int16_t));
    int failed = buffer == NULL;
    const size_t total = (size_t)h.dim[0] * (size_t)h.dim[1] * (size_t)h.dim[2];
    for (size_t start = 0; start < total && !failed; start += block) {
        const size_t n = total - start < block ? total - start : block;
        float_to_int16(data + start, buffer, n);
        failed = nifti_write_buffer(fp, buffer, (int64_t)(n * sizeof(int16_t))) != (int64_t)(n * sizeof(int16_t));
    }
    free(buffer);
    znzclose(fp);
    return finish(nim, failed, path, error, error_size);
}

int mn_nifti_read(const char *path, mn_nifti_header *header, void **data, char *error, size_t error_size) {
    nifti_image *nim = nifti_image_read(path, 1);
    if (!nim || !nim->data) {
        if (nim) nifti_image_free(nim);
        set_error(error, error_size, "niftilib could not read the file", path);
        return -1;
    }
    memset(header, 0, sizeof *header);
    header->dim[0] = nim->nx;
    header->dim[1] = nim->ny > 0 ? nim->ny : 1;
    header->dim[2] = nim->nz > 0 ? nim->nz : 1;
    header->pixdim[0] = nim->dx;
    header->pixdim[1] = nim->dy;
    header->pixdim[2] = nim->dz;
    header->datatype = nim->datatype;
    header->scl_slope = nim->scl_slope;
    header->scl_inter = nim->scl_inter;
    header->qform_code = nim->qform_code;
    header->sform_code = nim->sform_code;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) {
            header->qform[r][c] = nim->qto_xyz.m[r][c];
            header->sform[r][c] = nim->sto_xyz.m[r][c];
        }
    memcpy(header->descrip, nim->descrip, sizeof header->descrip);
    header->descrip[79] = 0;

    // Keep only the first 3D volume; hand the buffer to the caller.
    size_t bytes = (size_t)header->dim[0] * (size_t)header->dim[1] * (size_t)header->dim[2] * (size_t)nim->nbyper;
    void *out = malloc(bytes > 0 ? bytes : 1);
    if (!out) {
        nifti_image_free(nim);
        set_error(error, error_size, "out of memory", path);
        return -1;
    }
    memcpy(out, nim->data, bytes);
    nifti_image_free(nim);
    *data = out;
    return 0;
}

void mn_nifti_free_data(void *data) { free(data); }

int mn_float_is_int16_exact(const float *in, size_t n) {
    // The round trip through int16 is exact only for integers in range (NaN fails it).
    int exact = 1;
    for (size_t i = 0; i < n; i++) exact &= (float)clamped_int16(in[i]) == in[i];
    return exact;
}
