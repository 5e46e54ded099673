/*
 * cdicom_objects.h — writing the DICOM objects the node produces: Segmentation (dcmseg), TID 1500 SR and
 * Key Object Selection (dcmsr), RT Structure Set (dcmrt), Secondary Capture (dcmdata), GSPS (dcmpstat).
 *
 * Part of the C boundary between MambaNode's Swift code and DCMTK (conventions in cdicom.h, which
 * this header builds on). Linked libraries: dcmseg, dcmfg, dcmiod, dcmsr, cmr, dcmpstat, dcmrt.
 */
#ifndef MAMBANODE_CDICOM_OBJECTS_H
#define MAMBANODE_CDICOM_OBJECTS_H

#include "cdicom.h"

#ifdef __cplusplus
extern "C" {
#endif

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
    const char *label;             /* Segment Label */
    const char *description;       /* Segment Description, or NULL */
    mn_code category;              /* Segmented Property Category (CID 7150) */
    mn_code type;                  /* Segmented Property Type (CID 7151) */
    mn_code type_modifier;         /* optional (value NULL when absent) */
    const char *algorithm_type;    /* "AUTOMATIC", "SEMIAUTOMATIC" or "MANUAL" */
    const char *algorithm_name;    /* NULL for MANUAL */
    const char *algorithm_version; /* NULL for MANUAL */
    mn_code algorithm_family;      /* CID 7162; value NULL for MANUAL */
    int32_t has_cielab;            /* 1: cielab holds Recommended Display CIELab Value */
    uint16_t cielab[3];
    const char *tracking_id; /* NULL or both tracking values */
    const char *tracking_uid;
} mn_seg_segment;

/* One source frame, in slice order. */
typedef struct mn_seg_source_frame {
    const char *sop_class_uid;
    const char *sop_instance_uid;
    uint32_t frame_number; /* 1-based frame of a multi-frame source; 0 for single-frame */
    double position[3];    /* Image Position (Patient) of the frame */
} mn_seg_source_frame;

typedef struct mn_seg_request {
    /* Patient, study and Frame of Reference are copied from this source file (header only). Its
     * Study, Series Instance UID and Patient ID also name the Referenced Series. */
    const char *reference_path;
    uint16_t rows, columns;
    double orientation[6];   /* Image Orientation (Patient): row then column cosines */
    double pixel_spacing[2]; /* (row spacing, column spacing) in mm */
    double slice_thickness;
    double spacing_between_slices; /* <= 0: not written */
    const mn_seg_source_frame *sources;
    size_t source_count;
    const mn_seg_segment *segments; /* segment i has Segment Number i + 1 */
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
    const char *series_description; /* or NULL */
    /* Content Identification (PS3.3 C.10.9). */
    const char *content_label;
    const char *content_description; /* or NULL */
    const char *content_creator;     /* Person Name, or NULL */
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
    mn_code finding;         /* the segment's Segmented Property Type */
    uint16_t segment_number; /* in the SEG named by the request */
    double volume_mm3;
} mn_sr_volume;

/* A classification: TID 1501 group with the class as a qualitative evaluation (concept, coded
 * value) and its probability as a numeric measurement (unit "1"). probability < 0: none. */
typedef struct mn_sr_classification {
    const char *tracking_id;
    const char *tracking_uid;
    mn_code concept; /* what was classified, e.g. (111042, DCM, Pathology) */
    mn_code value;   /* the class */
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
    const char *series_description; /* or NULL */
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
    mn_code procedure_reported; /* TID 1500 Row 4 (CID 100) */
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

/* ---------------------------------------------------------------------------------------------
 * RT Structure Set (PS3.3 A.19): ROIs as CLOSED_PLANAR contours on single-frame source images
 * ------------------------------------------------------------------------------------------- */

/* One ROI (Structure Set ROI, ROI Contour and RT ROI Observations items; ROI Number = index + 1). */
typedef struct mn_rt_roi {
    const char *name;             /* ROI Name (LO) */
    const char *description;      /* ROI Description, or NULL */
    uint8_t color[3];             /* ROI Display Color, RGB */
    const char *interpreted_type; /* RT ROI Interpreted Type (CS), e.g. ORGAN */
    const char *algorithm_name;   /* ROI Generation Description: the model and version */
} mn_rt_roi;

/* One closed planar contour: `point_count` patient coordinates (x, y, z in mm, LPS) starting at
 * points[3 * first_point], on source image `image` (index into the request's images). */
typedef struct mn_rt_contour {
    uint32_t roi;   /* index into rois */
    uint32_t image; /* index into images */
    size_t first_point;
    uint32_t point_count;
} mn_rt_contour;

typedef struct mn_rt_request {
    /* Patient and study are copied from this source file (header only); its Series Instance UID
     * is the referenced series. */
    const char *reference_path;
    const char *frame_of_reference_uid;
    const mn_seg_source_frame *images; /* single-frame sources: frame_number must be 0 */
    size_t image_count;
    const mn_rt_roi *rois;
    size_t roi_count;
    const mn_rt_contour *contours;
    size_t contour_count;
    const double *points; /* 3 doubles per point */
    size_t point_count;
    const char *series_instance_uid;
    const char *sop_instance_uid;
    int32_t series_number;
    int32_t instance_number;
    const char *series_description;  /* or NULL */
    const char *structure_set_label; /* Structure Set Label (SH, 1–16 characters) */
    /* General Equipment (PS3.3 C.7.5.1). */
    const char *manufacturer;
    const char *model_name;
    const char *device_serial_number;
    const char *software_versions;
} mn_rt_request;

/* Write an RT Structure Set (dcmrt) as Implicit VR Little Endian Part 10 file (Contour Data may exceed
 * the 64 KiB of an Explicit VR value). Errors: MN_ERR_IO
 * (reference or output file), MN_ERR_ARGUMENT (inconsistent request), MN_ERR_BAD_VALUE (DCMTK
 * refused a value), MN_ERR_INTERNAL. */
mn_status mn_rt_structure_set_write(const mn_rt_request *request, const char *path, mn_error *err);

/* ---------------------------------------------------------------------------------------------
 * Grayscale Softcopy Presentation State (PS3.3 A.33.1) through dcmpstat
 * ------------------------------------------------------------------------------------------- */

/* One graphic layer (PS3.3 C.10.7): the annotations of one segment, or of the landmarks. Graphic
 * Layer Order is the index + 1. */
typedef struct mn_gsps_layer {
    const char *name;        /* Graphic Layer (CS, 1–16 characters: A–Z, 0–9, space, _) */
    const char *description; /* Graphic Layer Description (LO), or NULL */
    uint8_t color[3];        /* Graphic Layer Recommended Display RGB Value */
    uint16_t cielab[3];      /* Graphic Layer Recommended Display CIELab Value (PS3.3 C.10.7.1.1) */
} mn_gsps_layer;

typedef enum mn_gsps_graphic_type {
    MN_GSPS_POLYLINE = 0, /* closed when the last point equals the first */
    MN_GSPS_POINT = 1     /* one point */
} mn_gsps_graphic_type;

/* One graphic object on one referenced image (at most 8191 points: Graphic Data must fit an
 * Explicit VR value), in PIXEL units (PS3.3 C.10.5.1.2: the top left
 * corner of the top left pixel is 0\0, the bottom right corner of the image is Columns\Rows).
 * Points are (column, row) pairs, 2 floats each, starting at points[2 * first_point]. */
typedef struct mn_gsps_graphic {
    uint32_t layer; /* index into layers */
    uint32_t image; /* index into images */
    uint32_t type;  /* an mn_gsps_graphic_type */
    size_t first_point;
    uint32_t point_count;
} mn_gsps_graphic;

/* One text object on one referenced image (PS3.3 C.10.5, Text Object Sequence), PIXEL units. */
typedef struct mn_gsps_text {
    uint32_t layer;
    uint32_t image;
    const char *text;   /* Unformatted Text Value (ST) */
    float box[4];       /* Bounding Box Top Left Hand Corner (column, row), Bottom Right Hand Corner */
    int32_t has_anchor; /* 1: anchor holds an Anchor Point, shown (Anchor Point Visibility Y) */
    float anchor[2];    /* (column, row) */
} mn_gsps_text;

typedef struct mn_gsps_request {
    /* Patient, study and Modality LUT are taken from this source image (header only; the GSPS IOD
     * has no Frame of Reference); its Series Instance UID must be the referenced series. */
    const char *reference_path;
    const char *referenced_series_instance_uid;
    const mn_seg_source_frame *images; /* single-frame source images (frame_number 0), all of one series */
    size_t image_count;
    uint16_t rows, columns;             /* of every image: the Displayed Area (1,1)–(columns,rows) */
    double pixel_spacing[2];            /* (row, column) mm: Presentation Pixel Aspect Ratio */
    double window_center, window_width; /* Softcopy VOI LUT (PS3.3 C.11.8), modality values */
    const char *window_explanation;     /* Window Center & Width Explanation, or NULL */
    const mn_gsps_layer *layers;
    size_t layer_count;
    const mn_gsps_graphic *graphics;
    size_t graphic_count;
    const float *points; /* 2 floats per point */
    size_t point_count;
    const mn_gsps_text *texts;
    size_t text_count;
    /* Presentation State Identification (PS3.3 C.11.10). */
    const char *content_label;       /* CS, e.g. "AI_RESULT" */
    const char *content_description; /* LO, or NULL */
    const char *content_creator;     /* PN, or NULL */
    /* New series and instance. */
    const char *series_instance_uid;
    const char *sop_instance_uid;
    int32_t series_number;
    int32_t instance_number;
    const char *series_description; /* or NULL */
    /* General Equipment (PS3.3 C.7.5.1). */
    const char *manufacturer;
    const char *model_name;
    const char *device_serial_number;
    const char *software_versions;
} mn_gsps_request;

/* Write a Grayscale Softcopy Presentation State as Explicit VR Little Endian Part 10 file.
 * Errors: MN_ERR_IO, MN_ERR_ARGUMENT (inconsistent request), MN_ERR_BAD_VALUE, MN_ERR_INTERNAL. */
mn_status mn_gsps_write(const mn_gsps_request *request, const char *path, mn_error *err);

/* ---------------------------------------------------------------------------------------------
 * Key Object Selection Document (PS3.3 A.35.4) through dcmsr
 * ------------------------------------------------------------------------------------------- */

/* One referenced instance, in the source's study. */
typedef struct mn_ko_reference {
    const char *series_instance_uid;
    const char *sop_class_uid;
    const char *sop_instance_uid;
    uint32_t frame_number; /* 0: the whole instance */
} mn_ko_reference;

typedef struct mn_ko_request {
    /* Patient and study are copied from this source file (header only). */
    const char *reference_path;
    const mn_ko_reference *references; /* in the order they are listed (at least one) */
    size_t reference_count;
    const char *description; /* Key Object Description (113012, DCM) TEXT, or NULL */
    /* New series and instance (Modality KO). */
    const char *series_instance_uid;
    const char *sop_instance_uid;
    int32_t series_number;
    int32_t instance_number;
    const char *series_description; /* or NULL */
    /* General Equipment (PS3.3 C.7.5.1). */
    const char *manufacturer;
    const char *model_name;
    const char *device_serial_number;
    const char *software_versions;
} mn_ko_request;

/* Write a Key Object Selection Document titled (113000, DCM, "Of Interest") as Explicit VR Little
 * Endian Part 10 file. Errors: MN_ERR_IO, MN_ERR_ARGUMENT, MN_ERR_BAD_VALUE, MN_ERR_INTERNAL. */
mn_status mn_ko_write(const mn_ko_request *request, const char *path, mn_error *err);

/* ---------------------------------------------------------------------------------------------
 * Secondary Capture Image (PS3.3 A.8.1), RGB, through dcmdata
 * ------------------------------------------------------------------------------------------- */

typedef struct mn_sc_request {
    /* Patient and study are copied from this source file (header only). */
    const char *reference_path;
    uint16_t rows, columns;
    const uint8_t *rgb; /* rows × columns × 3 bytes, R G B interleaved (Planar Configuration 0) */
    /* The source image it was drawn from (Source Image Sequence), or sop_instance_uid NULL for an
     * image of no source slice (a summary page). */
    mn_seg_source_frame source;
    /* Image Plane (PS3.3 C.7.6.2) and Frame of Reference, copied from the source slice so viewers
     * link and scroll the series with it (Standard Extended SOP Class, PS3.4 B.1.3); has_plane 0:
     * none. */
    int32_t has_plane;
    double position[3];
    double orientation[6];
    double pixel_spacing[2];
    double slice_thickness; /* <= 0: not written */
    const char *frame_of_reference_uid;
    const char *derivation_description; /* Derivation Description (ST), or NULL */
    /* New series and instance. */
    const char *series_instance_uid;
    const char *sop_instance_uid;
    int32_t series_number;
    int32_t instance_number;
    const char *series_description; /* or NULL */
    /* General Equipment (PS3.3 C.7.5.1). */
    const char *manufacturer;
    const char *model_name;
    const char *device_serial_number;
    const char *software_versions;
} mn_sc_request;

/* Write one Secondary Capture Image (Burned In Annotation YES, Conversion Type WSD, Modality OT)
 * as Explicit VR Little Endian Part 10 file. Errors: MN_ERR_IO, MN_ERR_ARGUMENT, MN_ERR_BAD_VALUE,
 * MN_ERR_INTERNAL. */
mn_status mn_sc_write(const mn_sc_request *request, const char *path, mn_error *err);

#ifdef __cplusplus
}
#endif

#endif /* MAMBANODE_CDICOM_OBJECTS_H */
