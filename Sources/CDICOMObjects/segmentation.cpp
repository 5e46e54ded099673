// BINARY Segmentation writing over dcmseg/dcmfg/dcmiod (PS3.3 A.51, C.8.20).
//
// dcmseg builds the IOD: modules, Segment Sequence, shared and per-frame functional groups. What
// it leaves to us (docs/platform-notes.md, DCMTK's SEG and SR modules) is done here: the Derivation
// Image group per frame, the Referenced Series through the Common Instance Reference module,
// dimension indices with a Frame Content group per frame, and Spatial Locations Preserved, which
// 3.6.7 cannot set and is patched into the written dataset.
//
// Pixel data: dcmseg packs one-byte-per-pixel frames bit by bit, which is about half of its time,
// and (measured, 3.6.7) concatenates frames wrongly when Rows × Columns is not a multiple of 8.
// By default dcmseg therefore gets 1×1 placeholder frames (so that Number of Frames and the
// functional groups stay its business) and the shim then writes Rows, Columns and the Pixel Data
// that Swift packed straight from the label map. `frames_through_dcmseg` keeps dcmseg's path so
// that tests can compare the two.
#include "encoding.h"

#include "dcmtk/dcmfg/fgderimg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmiod/iodreferences.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"

#include <memory>
#include <set>
#include <vector>

using namespace mn;

namespace {

std::string decimal(double value) { return decimalString(value); }

CodeSequenceMacro codeMacro(const mn_code &code) {
    return CodeSequenceMacro(orEmpty(code.value).c_str(), orEmpty(code.scheme).c_str(), orEmpty(code.meaning).c_str());
}

DcmSegTypes::E_SegmentAlgoType algorithmType(const char *text) {
    std::string t = orEmpty(text);
    if (t == "AUTOMATIC") return DcmSegTypes::SAT_AUTOMATIC;
    if (t == "SEMIAUTOMATIC") return DcmSegTypes::SAT_SEMIAUTOMATIC;
    if (t == "MANUAL") return DcmSegTypes::SAT_MANUAL;
    return DcmSegTypes::SAT_UNKNOWN;
}

/// Checks the request's shape; values themselves were validated in Swift when constructed.
mn_status checkRequest(const mn_seg_request *r, mn_error *err) {
    if (!r->reference_path) return fail(err, MN_ERR_ARGUMENT, "segmentation: no reference source file");
    if (r->rows == 0 || r->columns == 0)
        return fail(err, MN_ERR_ARGUMENT, "segmentation: rows and columns must be > 0");
    if (!r->sources || r->source_count == 0) return fail(err, MN_ERR_ARGUMENT, "segmentation: no source frames");
    if (!r->segments || r->segment_count == 0 || r->segment_count > 65535)
        return fail(err, MN_ERR_ARGUMENT, "segmentation: segment count must be 1…65535");
    if (r->frame_count == 0) return fail(err, MN_ERR_ARGUMENT, "segmentation: no frames (every segment is empty)");
    // dcmseg 3.6.7 refuses fewer frames than segments (DcmSegmentation::check) with nothing but
    // "Invalid Object"; say so here (SegmentationFrames keeps an empty frame per empty segment).
    if (r->frame_count < r->segment_count)
        return fail(err, MN_ERR_ARGUMENT,
                    "segmentation: %zu frames for %zu segments (dcmseg needs a frame per segment)", r->frame_count,
                    r->segment_count);
    if (!r->frame_segments || !r->frame_sources) return fail(err, MN_ERR_ARGUMENT, "segmentation: no frame list");
    for (size_t f = 0; f < r->frame_count; ++f) {
        if (r->frame_segments[f] == 0 || r->frame_segments[f] > r->segment_count)
            return fail(err, MN_ERR_ARGUMENT, "segmentation: frame %zu names segment %u of %zu", f + 1,
                        unsigned(r->frame_segments[f]), r->segment_count);
        if (r->frame_sources[f] >= r->source_count)
            return fail(err, MN_ERR_ARGUMENT, "segmentation: frame %zu names source %u of %zu", f + 1,
                        unsigned(r->frame_sources[f]), r->source_count);
    }
    const size_t bits = r->frame_count * size_t(r->rows) * r->columns;
    const size_t needed = (bits + 7) / 8;
    if (!r->packed_frames || r->packed_length < needed)
        return fail(err, MN_ERR_ARGUMENT, "segmentation: packed pixel data has %zu bytes, %zu needed", r->packed_length,
                    needed);
    for (const char *s : {r->series_instance_uid, r->sop_instance_uid, r->dimension_organization_uid, r->content_label,
                          r->manufacturer, r->model_name, r->device_serial_number, r->software_versions})
        if (!s || !*s) return fail(err, MN_ERR_ARGUMENT, "segmentation: a required identity value is empty");
    return MN_OK;
}

/// Segment Sequence item for segment `s` (PS3.3 C.8.20.2, Segment Description Macro).
mn_status makeSegment(const mn_seg_segment &s, DcmSegment *&out, mn_error *err) {
    const DcmSegTypes::E_SegmentAlgoType type = algorithmType(s.algorithm_type);
    if (type == DcmSegTypes::SAT_UNKNOWN)
        return fail(err, MN_ERR_ARGUMENT, "segment: unknown algorithm type '%s'", orEmpty(s.algorithm_type).c_str());
    OFCondition cond = DcmSegment::create(out, orEmpty(s.label).c_str(), codeMacro(s.category), codeMacro(s.type), type,
                                          orEmpty(s.algorithm_name).c_str());
    if (cond.bad()) return failCondition(err, cond, "creating segment");
    std::unique_ptr<DcmSegment> segment(out);
    out = nullptr;
    if (s.description && *s.description) {
        if ((cond = segment->setSegmentDescription(s.description)).bad())
            return failTag(err, statusFor(cond), DCM_SegmentDescription, "Segment Description: %s", cond.text());
    }
    if (s.type_modifier.value) {
        segment->getSegmentedPropertyTypeModifierCode().push_back(new CodeSequenceMacro(codeMacro(s.type_modifier)));
    }
    if (type != DcmSegTypes::SAT_MANUAL) {
        // Segmentation Algorithm Identification Sequence (C.8.20.2, CP-1597): family, name, version.
        AlgorithmIdentificationMacro algorithm;
        algorithm.getAlgorithmFamilyCode().set(orEmpty(s.algorithm_family.value).c_str(),
                                               orEmpty(s.algorithm_family.scheme).c_str(),
                                               orEmpty(s.algorithm_family.meaning).c_str());
        algorithm.setAlgorithmName(orEmpty(s.algorithm_name).c_str());
        algorithm.setAlgorithmVersion(orEmpty(s.algorithm_version).c_str());
        if ((cond = segment->setSegmentationAlgorithmIdentification(algorithm)).bad())
            return failCondition(err, cond, "Segmentation Algorithm Identification");
    }
    if (s.has_cielab) {
        if ((cond = segment->setRecommendedDisplayCIELabValue(s.cielab[0], s.cielab[1], s.cielab[2])).bad())
            return failTag(err, statusFor(cond), DCM_RecommendedDisplayCIELabValue, "CIELab value: %s", cond.text());
    }
    if (s.tracking_id && s.tracking_uid) {
        if ((cond = segment->setTrackingID(s.tracking_id)).bad())
            return failTag(err, statusFor(cond), DCM_TrackingID, "Tracking ID: %s", cond.text());
        if ((cond = segment->setTrackingUID(s.tracking_uid)).bad())
            return failTag(err, statusFor(cond), DCM_TrackingUID, "Tracking UID: %s", cond.text());
    }
    out = segment.release();
    return MN_OK;
}

/// Shared groups: Pixel Measures and Plane Orientation (PS3.3 C.7.6.16.2.1, C.7.6.16.2.4).
mn_status addSharedGroups(DcmSegmentation &seg, const mn_seg_request *r, mn_error *err) {
    FGPixelMeasures measures;
    OFCondition cond =
        measures.setPixelSpacing((decimal(r->pixel_spacing[0]) + "\\" + decimal(r->pixel_spacing[1])).c_str());
    if (cond.good()) cond = measures.setSliceThickness(decimal(r->slice_thickness).c_str());
    if (cond.good() && r->spacing_between_slices > 0)
        cond = measures.setSpacingBetweenSlices(decimal(r->spacing_between_slices).c_str());
    if (cond.good()) cond = seg.addForAllFrames(measures);
    if (cond.bad()) return failCondition(err, cond, "Pixel Measures");
    FGPlaneOrientationPatient orientation;
    const double *o = r->orientation;
    cond = orientation.setImageOrientationPatient(decimal(o[0]).c_str(), decimal(o[1]).c_str(), decimal(o[2]).c_str(),
                                                  decimal(o[3]).c_str(), decimal(o[4]).c_str(), decimal(o[5]).c_str());
    if (cond.good()) cond = seg.addForAllFrames(orientation);
    if (cond.bad()) return failCondition(err, cond, "Plane Orientation");
    return MN_OK;
}

/// Dimensions (PS3.3 C.7.6.17, C.8.20.2.3): segment number, then position along the stack, the
/// organisation highdicom and dcmqi use.
mn_status addDimensions(DcmSegmentation &seg, const char *organizationUID, mn_error *err) {
    IODMultiframeDimensionModule &dims = seg.getDimensions();
    OFCondition cond = dims.addDimensionIndex(DCM_ReferencedSegmentNumber, organizationUID,
                                              DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber");
    if (cond.good())
        cond = dims.addDimensionIndex(DCM_ImagePositionPatient, organizationUID, DCM_PlanePositionSequence,
                                      "ImagePositionPatient");
    if (cond.bad()) return failCondition(err, cond, "Dimension Index");
    auto *organization = new IODMultiframeDimensionModule::DimensionOrganizationItem;
    organization->setDimensionOrganizationUID(organizationUID);
    dims.getDimensionOrganizationSequence().push_back(organization);
    return MN_OK;
}

/// Per-frame groups of frame `f`: Plane Position, Frame Content (dimension index values) and
/// Derivation Image naming the exact source instance and frame (PS3.3 C.8.20.3.1).
mn_status addFrame(DcmSegmentation &seg, const mn_seg_request *r, size_t f, std::vector<Uint8> &pixels, mn_error *err) {
    const mn_seg_source_frame &source = r->sources[r->frame_sources[f]];
    FGPlanePosPatient position;
    OFCondition cond = position.setImagePositionPatient(
        decimal(source.position[0]).c_str(), decimal(source.position[1]).c_str(), decimal(source.position[2]).c_str());
    if (cond.bad()) return failCondition(err, cond, "Plane Position");
    FGFrameContent content;
    cond = content.setDimensionIndexValues(r->frame_segments[f], 0);
    if (cond.good()) cond = content.setDimensionIndexValues(r->frame_sources[f] + 1, 1);
    if (cond.bad()) return failCondition(err, cond, "Frame Content");

    ImageSOPInstanceReferenceMacro reference;
    cond = reference.setReferencedSOPClassUID(orEmpty(source.sop_class_uid).c_str());
    if (cond.good()) cond = reference.setReferencedSOPInstanceUID(orEmpty(source.sop_instance_uid).c_str());
    if (cond.good() && source.frame_number > 0) {
        if (source.frame_number > 65535)
            return fail(err, MN_ERR_ARGUMENT, "source frame number %u > 65535", source.frame_number);
        cond = reference.addReferencedFrameNumber(Uint16(source.frame_number));
    }
    if (cond.bad()) return failCondition(err, cond, "Source Image reference");
    OFVector<ImageSOPInstanceReferenceMacro> references;
    references.push_back(reference);
    // createDerivationImageFG returns a group we own; addFrame copies it (docs/platform-notes.md §2).
    std::unique_ptr<FGDerivationImage> derivation(DcmSegmentation::createDerivationImageFG(references, ""));
    if (!derivation) return fail(err, MN_ERR_INTERNAL, "cannot create Derivation Image group");

    OFVector<FGBase *> groups;
    groups.push_back(&position);
    groups.push_back(&content);
    groups.push_back(derivation.get());

    if (r->frames_through_dcmseg) {
        // Unpack this frame's bits back to one byte per pixel, dcmseg's input format.
        const size_t n = size_t(r->rows) * r->columns;
        const size_t first = f * n;
        for (size_t i = 0; i < n; ++i) {
            const size_t bit = first + i;
            pixels[i] = (r->packed_frames[bit >> 3] >> (bit & 7)) & 1;
        }
    }
    cond = seg.addFrame(pixels.data(), r->frame_segments[f], groups);
    if (cond.bad()) return failCondition(err, cond, "adding frame");
    return MN_OK;
}

/// Referenced Series Sequence (PS3.3 C.12.2) naming every source instance.
void addReferencedSeries(DcmSegmentation &seg, const mn_seg_request *r, DcmItem &reference) {
    OFString patientID, study, series;
    reference.findAndGetOFString(DCM_PatientID, patientID);
    reference.findAndGetOFString(DCM_StudyInstanceUID, study);
    reference.findAndGetOFString(DCM_SeriesInstanceUID, series);
    IODReferences references;
    std::set<std::string> seen;
    for (size_t i = 0; i < r->source_count; ++i) {
        const std::string instance = orEmpty(r->sources[i].sop_instance_uid);
        if (!seen.insert(instance).second) continue; // frames of one multi-frame instance
        references.add(new IODImageReference(patientID, study, series, instance.c_str(),
                                             orEmpty(r->sources[i].sop_class_uid).c_str()));
    }
    seg.getCommonInstanceReference().addReferences(references, study);
}

/// What dcmseg 3.6.7 cannot set: Spatial Locations Preserved (PS3.3 C.7.6.1.1.3 "YES" since the
/// SEG has the source's grid). highdicom's per-source-instance indexing relies on it.
mn_status markSpatialLocationsPreserved(DcmItem &dataset, mn_error *err) {
    DcmSequenceOfItems *perFrame = nullptr;
    if (dataset.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, perFrame).bad() || !perFrame)
        return failTag(err, MN_ERR_INTERNAL, DCM_PerFrameFunctionalGroupsSequence,
                       "written SEG has no per-frame groups");
    for (DcmObject *o = perFrame->nextInContainer(nullptr); o; o = perFrame->nextInContainer(o)) {
        auto *frame = static_cast<DcmItem *>(o);
        DcmItem *derivation = nullptr;
        if (frame->findAndGetSequenceItem(DCM_DerivationImageSequence, derivation, 0).bad() || !derivation) continue;
        DcmSequenceOfItems *sources = nullptr;
        if (derivation->findAndGetSequence(DCM_SourceImageSequence, sources).bad() || !sources) continue;
        for (DcmObject *s = sources->nextInContainer(nullptr); s; s = sources->nextInContainer(s)) {
            OFCondition cond = static_cast<DcmItem *>(s)->putAndInsertString(DCM_SpatialLocationsPreserved, "YES");
            if (cond.bad()) return failCondition(err, cond, "Spatial Locations Preserved");
        }
    }
    return MN_OK;
}

mn_status setIdentity(DcmSegmentation &seg, const mn_seg_request *r, mn_error *err) {
    OFCondition cond = seg.getSeries().setSeriesInstanceUID(r->series_instance_uid);
    if (cond.good()) cond = seg.getSeries().setSeriesNumber(std::to_string(r->series_number).c_str());
    if (cond.good() && r->series_description) cond = seg.getSeries().setSeriesDescription(r->series_description);
    if (cond.good()) cond = seg.getSOPCommon().setSOPInstanceUID(r->sop_instance_uid);
    if (cond.bad()) return failCondition(err, cond, "series identity");
    return MN_OK;
}

} // namespace

extern "C" mn_status mn_seg_write(const mn_seg_request *r, const char *path, mn_error *err) {
    MN_GUARD(err, {
        if (!r || !path) return fail(err, MN_ERR_ARGUMENT, "mn_seg_write: NULL argument");
        if (mn_status s = checkRequest(r, err)) return s;

        DcmFileFormat referenceFile;
        OFCondition cond = referenceFile.loadFileUntilTag(r->reference_path, EXS_Unknown, EGL_noChange,
                                                          DCM_MaxReadLength, ERM_autoDetect, DCM_PixelData);
        if (cond.bad()) return fail(err, MN_ERR_IO, "reading the reference source: %s", cond.text());
        DcmDataset &reference = *referenceFile.getDataset();

        IODGeneralEquipmentModule::EquipmentInfo equipment(r->manufacturer, r->model_name, r->device_serial_number,
                                                           r->software_versions);
        ContentIdentificationMacro content(std::to_string(r->instance_number).c_str(), r->content_label,
                                           orEmpty(r->content_description).c_str(),
                                           orEmpty(r->content_creator).c_str());
        // Placeholder mode: 1×1 frames; the real Rows, Columns and Pixel Data are written below.
        const bool placeholder = r->frames_through_dcmseg == 0;
        DcmSegmentation *created = nullptr;
        cond = DcmSegmentation::createBinarySegmentation(created, placeholder ? 1 : r->rows,
                                                         placeholder ? 1 : r->columns, equipment, content);
        if (cond.bad() || !created) return failCondition(err, cond, "creating the segmentation");
        std::unique_ptr<DcmSegmentation> seg(created);

        if ((cond = seg->importFromSourceImage(reference)).bad())
            return failCondition(err, cond, "copying patient, study and frame of reference from the source");
        if (mn_status s = setIdentity(*seg, r, err)) return s;

        for (size_t i = 0; i < r->segment_count; ++i) {
            DcmSegment *segment = nullptr;
            if (mn_status s = makeSegment(r->segments[i], segment, err)) return s;
            Uint16 number = 0;
            cond = seg->addSegment(segment, number); // takes ownership only when it succeeds
            if (cond.bad()) {
                delete segment;
                return failCondition(err, cond, "adding segment");
            }
            if (number != i + 1)
                return fail(err, MN_ERR_INTERNAL, "segment %zu numbered %u by dcmseg", i + 1, unsigned(number));
        }
        if (mn_status s = addSharedGroups(*seg, r, err)) return s;
        if (mn_status s = addDimensions(*seg, r->dimension_organization_uid, err)) return s;

        std::vector<Uint8> pixels(placeholder ? 1 : size_t(r->rows) * r->columns, 0);
        for (size_t f = 0; f < r->frame_count; ++f)
            if (mn_status s = addFrame(*seg, r, f, pixels, err)) return s;
        addReferencedSeries(*seg, r, reference);

        DcmFileFormat out;
        DcmDataset &dataset = *out.getDataset();
        if ((cond = seg->writeDataset(dataset)).bad()) return failCondition(err, cond, "building the segmentation");
        if (placeholder) {
            cond = dataset.putAndInsertUint16(DCM_Rows, r->rows);
            if (cond.good()) cond = dataset.putAndInsertUint16(DCM_Columns, r->columns);
            const size_t bytes = (r->frame_count * size_t(r->rows) * r->columns + 7) / 8;
            if (cond.good()) cond = dataset.putAndInsertUint8Array(DCM_PixelData, r->packed_frames, bytes);
            if (cond.bad()) return failCondition(err, cond, "writing the packed Pixel Data");
        }
        if (mn_status s = markSpatialLocationsPreserved(dataset, err)) return s;
        // Explicit lengths: about 8 bytes less per item and sequence than undefined lengths.
        if ((cond = out.saveFile(path, EXS_LittleEndianExplicit, EET_ExplicitLength)).bad())
            return fail(err, MN_ERR_IO, "writing the segmentation: %s", cond.text());
        return MN_OK;
    })
}
