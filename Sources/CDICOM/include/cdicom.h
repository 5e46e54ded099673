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
    MN_ERR_IO = 1,            /* file cannot be opened, read or written */
    MN_ERR_NOT_DICOM = 2,     /* not a DICOM file / dataset cannot be parsed */
    MN_ERR_CORRUPT = 3,       /* parsed but malformed (truncated, bad lengths, bad pixel data) */
    MN_ERR_UNSUPPORTED = 4,   /* transfer syntax, photometric or bit depth we cannot handle */
    MN_ERR_MISSING_TAG = 5,   /* a required element is absent or empty */
    MN_ERR_BAD_VALUE = 6,     /* an element exists but its value is invalid */
    MN_ERR_NETWORK = 7,       /* association or DIMSE failure */
    MN_ERR_REFUSED = 8,       /* the peer refused (association rejected, no presentation context) */
    MN_ERR_ARGUMENT = 9,      /* the caller passed an invalid argument (a bug on our side) */
    MN_ERR_INTERNAL = 10,     /* an unexpected C++ exception or DCMTK internal error */
    MN_ERR_TIMEOUT = 11,      /* network timeout */
    MN_ERR_TLS = 12           /* TLS: unusable certificate or key (including a key file readable by group or
                                 others), handshake failed, peer certificate untrusted or for another host */
} mn_status;

#define MN_MESSAGE_CAPACITY 512

typedef struct mn_error {
    int32_t code;              /* an mn_status */
    int32_t has_tag;           /* 1 when `tag` names the offending element */
    uint32_t tag;              /* group << 16 | element */
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
mn_status mn_dataset_get_float64s(const mn_dataset *ds, uint32_t tag, double *values, size_t capacity,
                                  size_t *count, mn_error *err);

/* Number of items of a sequence (0 for an empty sequence). MN_ERR_MISSING_TAG when absent,
 * MN_ERR_BAD_VALUE when the element is not a sequence. */
mn_status mn_dataset_sequence_count(const mn_dataset *ds, uint32_t tag, size_t *count, mn_error *err);

/* A borrowed view of item `index` of a sequence; free it with mn_dataset_free. */
mn_status mn_dataset_sequence_item(const mn_dataset *ds, uint32_t tag, size_t index, mn_dataset **out,
                                   mn_error *err);

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
    int32_t  encapsulated;         /* 1 when the transfer syntax is compressed */
    char photometric[20];          /* e.g. MONOCHROME2 (as stored; decoding may change YBR to RGB) */
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

/* ---------------------------------------------------------------------------------------------
 * Storage SCP (DcmSCPPool with DcmThreadSCP workers)
 *
 * One listener thread accepts TCP connections and hands each association to a worker thread
 * (at most max_associations at once; PS3.8 A-ASSOCIATE-RJ "local limit exceeded" beyond that).
 * Workers negotiate every storage SOP class of DCMTK's dcmAllStorageSOPClassUIDs plus
 * Verification, each with the native and compressed transfer syntaxes listed in scp.cpp, so a
 * modality never has to decompress. Callbacks run on worker threads, concurrently.
 * ------------------------------------------------------------------------------------------- */

typedef struct mn_scp mn_scp;

/* DICOM TLS (PS3.15 B.9 and the BCP 195 profiles of PS3.15 B.12): DCMTK's dcmtls over OpenSSL with
 * the Non-downgrading BCP 195 profile (TSP_Profile_BCP195_ND: TLS 1.2 or newer, AES-GCM ECDHE/DHE
 * suites only), so TLS 1.0/1.1 and the retired Basic/AES profiles are refused. Files are PEM. The
 * private key must be unencrypted and not accessible by group or others (mode 0600 or stricter):
 * otherwise MN_ERR_TLS naming the file. All strings are borrowed for the duration of the call. */
typedef struct mn_tls_config {
    const char *certificate_file;      /* our certificate; required for an SCP, optional for an SCU */
    const char *private_key_file;      /* its key; given exactly when certificate_file is */
    const char *ca_file;               /* CAs trusted for the peer's certificate; NULL: none */
    int32_t verify_peer;               /* 1: the peer must present a certificate that chains to ca_file */
} mn_tls_config;

typedef struct mn_scp_config {
    const char *ae_title;              /* called AE title we answer to (others are rejected) */
    uint16_t port;
    uint32_t max_associations;         /* worker threads; further associations are rejected */
    uint32_t max_pdu;                  /* 0 = DCMTK default */
    uint32_t acse_timeout_s;           /* 0 = DCMTK default */
    uint32_t dimse_timeout_s;          /* 0 = blocking */
    const char *temp_directory;        /* where incoming instances are streamed before the callback */
    const char *const *allowed_calling_aes; /* NULL-free array */
    size_t allowed_calling_ae_count;
    int32_t accept_any_calling_ae;     /* 1: ignore the list (only when configured so) */
    const mn_tls_config *tls;          /* NULL: plain TCP; else every connection must complete a TLS
                                          handshake before its association request is read */
} mn_scp_config;

typedef struct mn_scp_instance {
    const char *temp_path;             /* the received file (meta header + dataset), not yet fsync'd */
    const char *sop_class_uid;         /* as sent in the C-STORE request; untrusted */
    const char *sop_instance_uid;      /* as sent in the C-STORE request; untrusted */
    const char *transfer_syntax_uid;   /* of the accepted presentation context */
    /* (0008,0016) and (0008,0018) as found in the received data set, or NULL when the file could
     * not be parsed up to them; then dataset_error says why. Untrusted. */
    const char *dataset_sop_class_uid;
    const char *dataset_sop_instance_uid;
    const char *dataset_error;
    const char *calling_ae;
    const char *called_ae;
    const char *peer_address;
    uint64_t association_id;
} mn_scp_instance;

/* Called on a DCMTK worker thread for every instance received, before the C-STORE response is
 * sent; returns the DIMSE status to send (PS3.7 C.4.2.1.4 / PS3.4 B.2.3: 0x0000 success,
 * 0xA700 out of resources, 0xA900 data set does not match SOP class, 0xC000 cannot understand).
 * All strings are borrowed for the duration of the call. The callee owns the file at temp_path
 * from then on (moves or deletes it). */
typedef uint16_t (*mn_scp_instance_callback)(void *context, const mn_scp_instance *instance);

typedef enum mn_scp_event_kind {
    MN_SCP_ASSOCIATION_ACCEPTED = 1,
    MN_SCP_ASSOCIATION_REJECTED = 2,   /* message: the reason (PS3.8 A-ASSOCIATE-RJ) */
    MN_SCP_ASSOCIATION_RELEASED = 3,
    MN_SCP_ASSOCIATION_ABORTED = 4,    /* by the peer (A-ABORT) or by us after a DIMSE error */
    MN_SCP_ECHO = 5,
    MN_SCP_ERROR = 6,                  /* message: what failed (receiving an instance, ...) */
    MN_SCP_TLS_FAILED = 7,             /* a connection to a TLS listener failed its handshake (no or an
                                          untrusted client certificate, TLS < 1.2, plain TCP); message: why */
    MN_SCP_CONNECTION_DROPPED = 8      /* a TCP connection ended without a valid A-ASSOCIATE-RQ (closed or
                                          reset at once, as health checks and port scans do; garbage;
                                          nothing within the ACSE timeout); only peer_address is known;
                                          message: why */
} mn_scp_event_kind;

typedef struct mn_scp_event {
    int32_t kind;                      /* mn_scp_event_kind */
    uint64_t association_id;           /* 0 when no association was started */
    const char *calling_ae;            /* borrowed; "" when unknown */
    const char *called_ae;
    const char *peer_address;
    const char *message;               /* reason, for rejections, aborts and errors; else "" */
} mn_scp_event;

/* Called on the listener or a worker thread; strings are borrowed for the duration of the call. */
typedef void (*mn_scp_event_callback)(void *context, const mn_scp_event *event);

/* What the admission callback decides for an association request (asked before DCMTK checks the
 * called and calling AE titles, so a node short of disk refuses everyone alike). Each refusal is sent as the A-ASSOCIATE-RJ PS3.8 9.3.4 prescribes. */
typedef enum mn_scp_admission {
    MN_SCP_ADMIT = 0,
    /* A local resource is short (e.g. free disk below the threshold): rejected-transient (2),
     * DICOM UL service-provider, presentation related (3), local-limit-exceeded (2). The peer may retry. */
    MN_SCP_REFUSE_RESOURCES = 1,
    /* The peer's address is not allowed: rejected-permanent (1), DICOM UL service-user (1),
     * no-reason-given (1) (PS3.8 has no reason code for addresses). */
    MN_SCP_REFUSE_CALLING_HOST = 2,
    /* The calling AE title is not allowed: rejected-permanent (1), service-user (1),
     * calling-AE-title-not-recognized (3). */
    MN_SCP_REFUSE_CALLING_AE = 3
} mn_scp_admission;

/* Called on a worker thread for every association request before negotiation; returns an
 * mn_scp_admission and, for refusals, may write a reason (NUL-terminated, at most `capacity`
 * bytes) into `reason`, reported with MN_SCP_ASSOCIATION_REJECTED. NULL admits everyone the AE
 * title checks admit. */
typedef int32_t (*mn_scp_admission_callback)(void *context, const mn_scp_event *request, char *reason,
                                             size_t capacity);

/* Configure an SCP (nothing is opened yet). `context` is passed back to the callbacks and must
 * outlive the mn_scp. Errors: MN_ERR_ARGUMENT (bad configuration). */
mn_status mn_scp_create(const mn_scp_config *config, mn_scp_instance_callback on_instance,
                        mn_scp_event_callback on_event, void *context, mn_scp **out, mn_error *err);

/* Installs the admission callback (before mn_scp_run; `context` as given to mn_scp_create). */
void mn_scp_set_admission(mn_scp *scp, mn_scp_admission_callback on_request);

/* Listen and serve until mn_scp_stop is called; returns once every association has ended.
 * Blocks the calling thread. Errors: MN_ERR_NETWORK (port cannot be opened). */
mn_status mn_scp_run(mn_scp *scp, mn_error *err);

/* Ask a running (or about to run) SCP to stop: new associations are refused, current ones are
 * served to their end, then mn_scp_run returns (within a second of the last one ending).
 * Thread-safe and async-signal-safe (one atomic store); returns at once. */
void mn_scp_stop(mn_scp *scp);

/* Release an SCP that is not running. NULL is accepted. */
void mn_scp_free(mn_scp *scp);

/* What the storage SCP accepts, for the Conformance Statement and its test: borrowed static
 * strings (do not free). Returns the count and points *list at the array. */
size_t mn_scp_accepted_transfer_syntaxes(const char *const **list);
size_t mn_scp_accepted_sop_classes(const char *const **list);

/* ---------------------------------------------------------------------------------------------
 * Storage SCU (DcmStorageSCU)
 * ------------------------------------------------------------------------------------------- */

typedef enum mn_scu_decompression {
    MN_SCU_DECOMPRESS_NEVER = 0,       /* propose only the file's transfer syntax */
    MN_SCU_DECOMPRESS_LOSSLESS = 1,    /* also propose uncompressed for losslessly compressed files */
    MN_SCU_DECOMPRESS_ALL = 2          /* also for lossy ones */
} mn_scu_decompression;

typedef struct mn_scu_config {
    const char *calling_ae;
    const char *called_ae;
    const char *host;
    uint16_t port;
    uint32_t max_pdu;                  /* 0 = DCMTK default */
    uint32_t connect_timeout_s;        /* 0 = system default */
    uint32_t acse_timeout_s;           /* 0 = DCMTK default */
    uint32_t dimse_timeout_s;          /* 0 = blocking */
    int32_t decompression;             /* mn_scu_decompression: fallback when the peer refuses */
    const mn_tls_config *tls;          /* NULL: plain TCP; else TLS, verify_peer should be 1 */
    const char *tls_server_name;       /* the DNS name or IP address the peer's certificate must carry
                                          (checked with OpenSSL's host/IP check); NULL: `host` */
} mn_scu_config;

typedef struct mn_scu_result {
    char *path;                        /* owned by the results array */
    char *sop_class_uid;               /* NULL when the file could not be read */
    char *sop_instance_uid;            /* NULL when the file could not be read */
    char *transfer_syntax_uid;         /* the one it was sent in; NULL when not sent */
    uint16_t dimse_status;             /* 0x0000 success; warnings 0xB000.. ; failures otherwise */
    int32_t sent;                      /* 1 when a C-STORE request was sent and answered */
    int32_t error_code;                /* mn_status why it was not sent (MN_ERR_NOT_DICOM, MN_ERR_REFUSED
                                          for no accepted presentation context, MN_ERR_NETWORK); 0 if sent */
    char *detail;                      /* why not sent; may be NULL */
} mn_scu_result;

/* Send files in one association (more when there are over 128 presentation contexts); one result
 * per input path, in order. Proposes exactly the SOP classes and transfer syntaxes of the files
 * (plus uncompressed ones as allowed by `decompression`). Returns MN_OK when every file was
 * attempted; per-instance outcomes are in the results, which are filled even when the call fails
 * (MN_ERR_NETWORK, MN_ERR_REFUSED, MN_ERR_TIMEOUT for the association). Free the results with
 * mn_scu_results_free. */
mn_status mn_scu_send(const mn_scu_config *config, const char *const *paths, size_t path_count,
                      mn_scu_result **results, size_t *result_count, mn_error *err);

void mn_scu_results_free(mn_scu_result *results, size_t count);

/* C-ECHO a peer (PS3.7 9.1.5). Errors: MN_ERR_REFUSED (association rejected), MN_ERR_NETWORK,
 * MN_ERR_TIMEOUT. */
mn_status mn_scu_echo(const mn_scu_config *config, mn_error *err);

/* ---------------------------------------------------------------------------------------------
 * Segmentation and Structured Report encoding (dcmseg/dcmfg/dcmiod, dcmsr/cmr)
 *
 * One call writes one object: the caller (Swift) has validated every value and computed the frame
 * list and the bit-packed pixel data; the shim builds the IOD with DCMTK and writes the file.
 * All pointers are borrowed for the duration of the call.
 * ------------------------------------------------------------------------------------------- */

/* A coded concept (PS3.3 Table 8.8-1): value, coding scheme designator, meaning. An absent
 * optional code has value == NULL. */
typedef struct mn_code {
    const char *value;
    const char *scheme;
    const char *meaning;
} mn_code;

/* One segment of a Segmentation (PS3.3 C.8.20.2, Segment Description Macro C.8.20.4). */
typedef struct mn_seg_segment {
    const char *label;                 /* Segment Label */
    const char *description;           /* Segment Description, or NULL */
    mn_code category;                  /* Segmented Property Category (CID 7150) */
    mn_code type;                      /* Segmented Property Type (CID 7151) */
    mn_code type_modifier;             /* optional (value NULL when absent) */
    const char *algorithm_type;        /* "AUTOMATIC", "SEMIAUTOMATIC" or "MANUAL" */
    const char *algorithm_name;        /* NULL for MANUAL */
    const char *algorithm_version;     /* NULL for MANUAL */
    mn_code algorithm_family;          /* CID 7162; value NULL for MANUAL */
    int32_t has_cielab;                /* 1: cielab holds Recommended Display CIELab Value */
    uint16_t cielab[3];
    const char *tracking_id;           /* NULL or both tracking values */
    const char *tracking_uid;
} mn_seg_segment;

/* One source frame, in slice order. */
typedef struct mn_seg_source_frame {
    const char *sop_class_uid;
    const char *sop_instance_uid;
    uint32_t frame_number;             /* 1-based frame of a multi-frame source; 0 for single-frame */
    double position[3];                /* Image Position (Patient) of the frame */
} mn_seg_source_frame;

typedef struct mn_seg_request {
    /* Patient, study and Frame of Reference are copied from this source file (header only). Its
     * Study, Series Instance UID and Patient ID also name the Referenced Series. */
    const char *reference_path;
    uint16_t rows, columns;
    double orientation[6];             /* Image Orientation (Patient): row then column cosines */
    double pixel_spacing[2];           /* (row spacing, column spacing) in mm */
    double slice_thickness;
    double spacing_between_slices;     /* <= 0: not written */
    const mn_seg_source_frame *sources;
    size_t source_count;
    const mn_seg_segment *segments;    /* segment i has Segment Number i + 1 */
    size_t segment_count;
    /* The frames of the SEG in order: segment number and source index of each. */
    const uint16_t *frame_segments;
    const uint32_t *frame_sources;
    size_t frame_count;
    /* The Pixel Data value: frame_count × rows × columns bits, frames back to back, first pixel
     * in the least significant bit (PS3.5 8.1.1, 8.2); at least ceil(bits / 8) bytes are read
     * (DCMTK pads the written value to an even length). */
    const uint8_t *packed_frames;
    size_t packed_length;
    /* New series and instance. */
    const char *series_instance_uid;
    const char *sop_instance_uid;
    const char *dimension_organization_uid;
    int32_t series_number;
    int32_t instance_number;
    const char *series_description;    /* or NULL */
    /* Content Identification (PS3.3 C.10.9). */
    const char *content_label;
    const char *content_description;   /* or NULL */
    const char *content_creator;       /* Person Name, or NULL */
    /* Enhanced General Equipment (PS3.3 C.7.5.2): all four non-empty. */
    const char *manufacturer;
    const char *model_name;
    const char *device_serial_number;
    const char *software_versions;
    /* 1: hand every frame to dcmseg (it packs them itself; slow, kept to cross-check the packed
     * path). 0: dcmseg builds the structure and the shim writes packed_frames as Pixel Data. */
    int32_t frames_through_dcmseg;
} mn_seg_request;

/* Write a BINARY Segmentation (PS3.3 A.51) as Explicit VR Little Endian Part 10 file.
 * Errors: MN_ERR_IO (reference or output file), MN_ERR_ARGUMENT (inconsistent request),
 * MN_ERR_BAD_VALUE (DCMTK refused a value), MN_ERR_INTERNAL. */
mn_status mn_seg_write(const mn_seg_request *request, const char *path, mn_error *err);

/* Measurement group of one SEG segment: TID 1411 Volumetric ROI Measurements (PS3.16). */
typedef struct mn_sr_volume {
    const char *tracking_id;
    const char *tracking_uid;
    mn_code finding;                   /* the segment's Segmented Property Type */
    uint16_t segment_number;           /* in the SEG named by the request */
    double volume_mm3;
} mn_sr_volume;

/* A classification: TID 1501 group with the class as a qualitative evaluation (concept, coded
 * value) and its probability as a numeric measurement (unit "1"). probability < 0: none. */
typedef struct mn_sr_classification {
    const char *tracking_id;
    const char *tracking_uid;
    mn_code concept;                   /* what was classified, e.g. (111042, DCM, Pathology) */
    mn_code value;                     /* the class */
    double probability;
} mn_sr_classification;

/* A landmark: TID 1501 group with the landmark as finding and a SCOORD3D POINT in the source
 * Frame of Reference. */
typedef struct mn_sr_landmark {
    const char *tracking_id;
    const char *tracking_uid;
    mn_code concept;
    double position[3];
} mn_sr_landmark;

/* The distance between two landmarks (indices into the request's landmarks): TID 1501 group with a
 * Distance in mm inferred from the two SCOORD3D points (TID 300, TID 320). */
typedef struct mn_sr_distance {
    const char *tracking_id;
    const char *tracking_uid;
    uint32_t from, to;
    double distance_mm;
} mn_sr_distance;

typedef struct mn_sr_request {
    /* Source images in slice order (read header-only): the image library, the evidence, and the
     * patient, study and Frame of Reference, copied from the first. */
    const char *const *source_paths;
    size_t source_count;
    /* The SEG the volumes refer to (NULL when there are no volumes). */
    const char *seg_sop_instance_uid;
    const char *seg_series_instance_uid;
    /* New series and instance. */
    const char *series_instance_uid;
    const char *sop_instance_uid;
    int32_t series_number;
    int32_t instance_number;
    const char *series_description;   /* or NULL */
    /* General Equipment (PS3.3 C.7.5.1). */
    const char *manufacturer;
    const char *model_name;
    const char *device_serial_number;
    const char *software_versions;
    /* Observer context (TID 1001/1004): the node as device observer, and the model that made
     * the measurements (TID 4019 Algorithm Identification on each measurement). */
    const char *device_observer_uid;
    const char *device_observer_name;
    const char *algorithm_name;
    const char *algorithm_version;
    mn_code procedure_reported;        /* TID 1500 Row 4 (CID 100) */
    const mn_sr_volume *volumes;
    size_t volume_count;
    const mn_sr_classification *classifications;
    size_t classification_count;
    const mn_sr_landmark *landmarks;
    size_t landmark_count;
    const mn_sr_distance *distances;
    size_t distance_count;
    /* Remarks about the whole report (e.g. that a source series may be incomplete): each a TEXT
     * qualitative evaluation (121106, DCM, "Comment") of TID 1500 Row 14. */
    const char *const *comments;
    size_t comment_count;
} mn_sr_request;

/* Write a Comprehensive 3D SR following TID 1500 (Measurement Report) as Explicit VR Little
 * Endian Part 10 file. Errors: MN_ERR_IO, MN_ERR_ARGUMENT, MN_ERR_BAD_VALUE, MN_ERR_INTERNAL. */
mn_status mn_sr_write(const mn_sr_request *request, const char *path, mn_error *err);

/* A TLS byte stream to a non-DICOM peer (the audit trail's syslog receiver, RFC 5425), with the
 * same policy as DICOM TLS above: BCP 195 non-downgrading profile, the peer's certificate chained
 * to config->ca_file and carrying `server_name` (DNS name or IP address; NULL or "": `host`),
 * our certificate when the peer wants mutual authentication. Connecting and the handshake give
 * up after timeout_ms. Errors: MN_ERR_NETWORK (cannot connect), MN_ERR_TLS (handshake or
 * certificate, with OpenSSL's reason), MN_ERR_TIMEOUT, MN_ERR_ARGUMENT. Not thread-safe: one
 * writer at a time. */
typedef struct mn_tls_stream mn_tls_stream;

mn_status mn_tls_stream_open(const char *host, uint16_t port, const mn_tls_config *config, const char *server_name,
                             int32_t timeout_ms, mn_tls_stream **out, mn_error *err);

/* Writes all `count` bytes; MN_ERR_NETWORK when the peer has gone (the stream is then unusable;
 * SIGPIPE is never raised). */
mn_status mn_tls_stream_write(mn_tls_stream *stream, const void *bytes, size_t count, mn_error *err);

/* Sends the TLS close_notify and closes the socket. NULL is allowed. */
void mn_tls_stream_close(mn_tls_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* MAMBANODE_CDICOM_H */
