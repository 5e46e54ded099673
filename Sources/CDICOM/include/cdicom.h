/*
 * cdicom.h — the C boundary between MambaNode's Swift code and DCMTK/GDCM.
 *
 * This is the only header Swift imports from the shim; the C++ behind it is the only code in the
 * project that includes DCMTK or GDCM headers (docs/architecture.md, Modules; docs/style-guide.md §2).
 *
 * Conventions
 * - Names are <object>_<action>: mn_dataset_open, mn_dataset_free, mn_scp_run.
 * - Every function that can fail returns mn_status and, when `err` is non-NULL, fills it with the
 *   code, the offending tag (if any) and a message. No C++ exception crosses this boundary: the
 *   shim catches everything and reports MN_ERR_INTERNAL.
 * - Ownership: every handle returned through an `out` parameter is owned by the caller and released
 *   with the matching *_free function. Strings returned as `char **` are malloc'd and released with
 *   mn_string_free. Borrowed pointers (documented per function) must not be freed.
 * - Tags are passed as uint32_t (group << 16 | element).
 * - The shim holds no policy (no retries, routing or defaults beyond DCMTK's): it only translates.
 */
#ifndef MAMBANODE_CDICOM_H
#define MAMBANODE_CDICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status and error detail
 * ------------------------------------------------------------------------------------------- */

typedef enum mn_status {
    MN_OK = 0,
    MN_ERR_IO = 1,           /* file cannot be opened, read or written */
    MN_ERR_NOT_DICOM = 2,    /* not a DICOM file / dataset cannot be parsed */
    MN_ERR_CORRUPT = 3,      /* parsed but malformed (truncated, bad lengths, bad pixel data) */
    MN_ERR_UNSUPPORTED = 4,  /* transfer syntax, photometric or bit depth we cannot handle */
    MN_ERR_MISSING_TAG = 5,  /* a required element is absent or empty */
    MN_ERR_BAD_VALUE = 6,    /* an element exists but its value is invalid */
    MN_ERR_NETWORK = 7,      /* association or DIMSE failure */
    MN_ERR_REFUSED = 8,      /* the peer refused (association rejected) */
    MN_ERR_ARGUMENT = 9,     /* the caller passed an invalid argument (a bug on our side) */
    MN_ERR_INTERNAL = 10,    /* an unexpected C++ exception or DCMTK internal error */
    MN_ERR_TIMEOUT = 11,     /* network timeout */
    MN_ERR_TLS = 12,         /* TLS: unusable certificate or key (including a key file readable by group or
                                 others), handshake failed, peer certificate untrusted or for another host */
    MN_ERR_NOT_ACCEPTED = 13 /* the peer accepted no presentation context for the object's SOP class and
                                transfer syntax (PS3.8 9.3.3.2): no retry helps until its configuration changes */
} mn_status;

#define MN_MESSAGE_CAPACITY 512

typedef struct mn_error {
    int32_t code;                      /* an mn_status */
    int32_t has_tag;                   /* 1 when `tag` names the offending element */
    uint32_t tag;                      /* group << 16 | element */
    char message[MN_MESSAGE_CAPACITY]; /* NUL-terminated, never contains pixel or patient data */
} mn_error;

/* Release a string returned through a `char **` out parameter. NULL is accepted. */
void mn_string_free(char *s);

/* Configure DCMTK's logger (0 = fatal only: the shim reports errors itself, 1 = errors,
 * 2 = warnings, 3 = info, 4 = debug).
 * Also registers DCMTK's JPEG, JPEG-LS and RLE codecs. Safe to call more than once. */
void mn_initialize(int32_t log_level);

/* ---------------------------------------------------------------------------------------------
 * Data dictionary (DCMTK's)
 * ------------------------------------------------------------------------------------------- */

/* The keyword of a tag (e.g. "SeriesInstanceUID"); MN_ERR_ARGUMENT when unknown. Caller frees. */
mn_status mn_tag_keyword(uint32_t tag, char **out, mn_error *err);

/* The tag for a keyword; MN_ERR_ARGUMENT when the dictionary does not know it. */
mn_status mn_tag_for_keyword(const char *keyword, uint32_t *tag, mn_error *err);

/* DCMTK's name of a well-known UID (SOP class, transfer syntax), or NULL. Borrowed static string. */
const char *mn_uid_name(const char *uid);

/* ---------------------------------------------------------------------------------------------
 * Data sets
 *
 * An mn_dataset is either a whole file (owning), a new empty dataset (owning), or a borrowed view
 * of a sequence item inside another mn_dataset. Every mn_dataset handle, including item views, is
 * released with mn_dataset_free; an item view keeps its root alive, so the order of frees does not
 * matter.
 * ------------------------------------------------------------------------------------------- */

typedef struct mn_dataset mn_dataset;

/* Read a Part 10 file (or a raw dataset without meta header; the transfer syntax is then guessed).
 * stop_before_pixel_data != 0 reads the header only: pixel functions then fail with MN_ERR_ARGUMENT.
 * Errors: MN_ERR_IO (cannot open), MN_ERR_NOT_DICOM, MN_ERR_CORRUPT. */
mn_status mn_dataset_open(const char *path, int32_t stop_before_pixel_data, mn_dataset **out, mn_error *err);

/* A new, empty dataset. */
mn_status mn_dataset_create(mn_dataset **out, mn_error *err);

void mn_dataset_free(mn_dataset *ds);

/* The transfer syntax UID the dataset was read in (or will be written in). Caller frees. */
mn_status mn_dataset_transfer_syntax(const mn_dataset *ds, char **out, mn_error *err);

/* 1 when the element is present (possibly empty), 0 otherwise. */
int32_t mn_dataset_has(const mn_dataset *ds, uint32_t tag);

/* The whole value of a string-like or numeric element as text (multiple values joined by '\'),
 * trailing padding removed. MN_ERR_MISSING_TAG when absent. Caller frees *out. */
mn_status mn_dataset_get_string(const mn_dataset *ds, uint32_t tag, char **out, mn_error *err);

/* Numeric values of DS, IS, FL, FD, US, SS, UL, SL, AT elements (all value multiplicity).
 * Writes up to `capacity` values and sets *count to the number present (may exceed capacity).
 * MN_ERR_MISSING_TAG when absent or empty; MN_ERR_BAD_VALUE when a value does not parse. */
mn_status mn_dataset_get_float64s(const mn_dataset *ds, uint32_t tag, double *values, size_t capacity, size_t *count,
                                  mn_error *err);

/* Number of items of a sequence (0 for an empty sequence). MN_ERR_MISSING_TAG when absent,
 * MN_ERR_BAD_VALUE when the element is not a sequence. */
mn_status mn_dataset_sequence_count(const mn_dataset *ds, uint32_t tag, size_t *count, mn_error *err);

/* A borrowed view of item `index` of a sequence; free it with mn_dataset_free. */
mn_status mn_dataset_sequence_item(const mn_dataset *ds, uint32_t tag, size_t index, mn_dataset **out, mn_error *err);

/* Top-level elements in order: tag and two-letter VR of element `index`. For dumps and tests. */
size_t mn_dataset_element_count(const mn_dataset *ds);
mn_status mn_dataset_element_at(const mn_dataset *ds, size_t index, uint32_t *tag, char vr[3], mn_error *err);

/* Set an element from text (VR from the data dictionary; multiple values separated by '\').
 * Replaces an existing element. */
mn_status mn_dataset_set_string(mn_dataset *ds, uint32_t tag, const char *value, mn_error *err);

/* Append an empty item to a sequence (created when absent) and return a borrowed view of it
 * for writing; free the view with mn_dataset_free. */
mn_status mn_dataset_sequence_append(mn_dataset *ds, uint32_t tag, mn_dataset **item, mn_error *err);

/* Set native (uncompressed) Pixel Data: OB when bits_allocated is 8, OW otherwise. Bytes are in
 * little-endian sample order. */
mn_status mn_dataset_set_pixel_data(mn_dataset *ds, const void *bytes, size_t length, int32_t bits_allocated,
                                    mn_error *err);

/* Write a Part 10 file in the given transfer syntax (compressing with DCMTK's encoders where the
 * syntax is JPEG, JPEG-LS or RLE; JPEG 2000 encoding is not offered). The file is written to
 * `path` directly; callers wanting atomicity write to a temporary name and rename. */
mn_status mn_dataset_write(mn_dataset *ds, const char *path, const char *transfer_syntax_uid, mn_error *err);

/* ---------------------------------------------------------------------------------------------
 * Pixel data
 * ------------------------------------------------------------------------------------------- */

typedef struct mn_pixel_info {
    uint32_t rows;
    uint32_t columns;
    uint32_t samples_per_pixel;
    uint32_t bits_allocated;
    uint32_t bits_stored;
    uint32_t high_bit;
    uint32_t pixel_representation; /* 0 unsigned, 1 two's complement */
    uint32_t planar_configuration;
    uint32_t number_of_frames;
    int32_t encapsulated; /* 1 when the transfer syntax is compressed */
    char photometric[20]; /* e.g. MONOCHROME2 (as stored; decoding may change YBR to RGB) */
} mn_pixel_info;

mn_status mn_dataset_pixel_info(const mn_dataset *ds, mn_pixel_info *info, mn_error *err);

/* Decode frame `frame` (0-based) into `out` as int32 samples, rows × columns × samples_per_pixel,
 * samples interleaved (color-by-pixel) whatever the planar configuration. Values are the stored
 * values: masked to Bits Stored and sign-extended when Pixel Representation is 1. No rescale, no
 * MONOCHROME1 inversion: those are the Volume module's business.
 * Compressed syntaxes are decoded once per dataset (DCMTK codecs; JPEG 2000 through GDCM) and kept.
 * Errors: MN_ERR_MISSING_TAG (no Pixel Data), MN_ERR_UNSUPPORTED (syntax or bit depth),
 * MN_ERR_CORRUPT (decoder failure or short data), MN_ERR_ARGUMENT (frame out of range, small buffer). */
mn_status mn_dataset_decode_frame(mn_dataset *ds, uint32_t frame, int32_t *out, size_t capacity, mn_error *err);

#ifdef __cplusplus
}
#endif

#endif /* MAMBANODE_CDICOM_H */
