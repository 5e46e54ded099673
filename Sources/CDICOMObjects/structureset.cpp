// RT Structure Set writer (PS3.3 A.19) over dcmdata: the IOD is a handful of nested sequences, so
// the shim builds them directly; the caller (Swift) has traced the contours and checked the values.
#include "encoding.h"

#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/ofstd/ofdatime.h"

#include <string>

using namespace mn;

namespace {

/// RT Referenced Study items reference the study by this SOP class (PS3.3 C.8.8.5, "Study
/// Component Management" retired; the Detached Study Management SOP Class UID is what
/// dciodvfy and most writers use).
const char *const kStudyReferenceClass = "1.2.840.10008.3.1.2.3.1";

mn_status checkRequest(const mn_rt_request *r, mn_error *err) {
    if (!r->reference_path) return fail(err, MN_ERR_ARGUMENT, "structure set: no reference source file");
    if (!r->series_instance_uid || !r->sop_instance_uid || !r->structure_set_label)
        return fail(err, MN_ERR_ARGUMENT, "structure set: series, instance UID and label are required");
    if (!r->frame_of_reference_uid || !*r->frame_of_reference_uid)
        return fail(err, MN_ERR_ARGUMENT, "structure set: the source has no Frame of Reference UID");
    if (r->image_count == 0 || r->roi_count == 0)
        return fail(err, MN_ERR_ARGUMENT, "structure set: needs source images and at least one ROI");
    for (size_t i = 0; i < r->image_count; ++i)
        if (r->images[i].frame_number != 0)
            return fail(err, MN_ERR_ARGUMENT, "structure set: image %zu is a frame of a multi-frame source", i);
    for (size_t c = 0; c < r->contour_count; ++c) {
        const mn_rt_contour &k = r->contours[c];
        if (k.roi >= r->roi_count || k.image >= r->image_count || k.point_count < 3 ||
            k.first_point + k.point_count > r->point_count)
            return fail(err, MN_ERR_ARGUMENT, "structure set: contour %zu is inconsistent", c);
    }
    return MN_OK;
}

/// Referenced Frame of Reference → RT Referenced Study → RT Referenced Series → Contour Image
/// Sequence listing every source image (PS3.3 C.8.8.5).
OFCondition addReferencedFrameOfReference(const mn_rt_request *r, const std::string &study, const std::string &series,
                                          DcmItem &out) {
    DcmItem *frame = nullptr;
    OFCondition cond = out.findOrCreateSequenceItem(DCM_ReferencedFrameOfReferenceSequence, frame, 0);
    if (cond.good()) cond = put(*frame, DCM_FrameOfReferenceUID, r->frame_of_reference_uid);
    DcmItem *studyItem = nullptr;
    if (cond.good()) cond = frame->findOrCreateSequenceItem(DCM_RTReferencedStudySequence, studyItem, 0);
    if (cond.good()) cond = put(*studyItem, DCM_ReferencedSOPClassUID, kStudyReferenceClass);
    if (cond.good()) cond = put(*studyItem, DCM_ReferencedSOPInstanceUID, study);
    DcmItem *seriesItem = nullptr;
    if (cond.good()) cond = studyItem->findOrCreateSequenceItem(DCM_RTReferencedSeriesSequence, seriesItem, 0);
    if (cond.good()) cond = put(*seriesItem, DCM_SeriesInstanceUID, series);
    for (size_t i = 0; cond.good() && i < r->image_count; ++i) {
        DcmItem *image = nullptr;
        cond = seriesItem->findOrCreateSequenceItem(DCM_ContourImageSequence, image, -2);
        if (cond.good()) cond = put(*image, DCM_ReferencedSOPClassUID, orEmpty(r->images[i].sop_class_uid));
        if (cond.good()) cond = put(*image, DCM_ReferencedSOPInstanceUID, orEmpty(r->images[i].sop_instance_uid));
    }
    return cond;
}

/// Contour Data: x\\y\\z per point as Decimal Strings (PS3.5 6.2, at most 16 characters each),
/// to 0.1 µm: a pixel is a fraction of a millimetre, and shorter values keep a large contour's
/// value small (see the transfer syntax below).
std::string contourData(const double *points, uint32_t count) {
    std::string text;
    text.reserve(size_t(count) * 3 * 10);
    char value[32];
    for (uint32_t n = 0; n < 3 * count; ++n) {
        if (n) text += '\\';
        snprintf(value, sizeof(value), "%.4f", points[n]);
        std::string v(value);
        while (!v.empty() && v.back() == '0') v.pop_back();
        if (!v.empty() && v.back() == '.') v.pop_back();
        if (v == "-0") v = "0";
        if (v.size() > 16) v = decimalString(points[n]); // |value| ≥ 1e11 mm: not a patient
        text += v;
    }
    return text;
}

/// Structure Set ROI, ROI Contour and RT ROI Observations items, one of each per ROI.
mn_status addROIs(const mn_rt_request *r, DcmItem &out, mn_error *err) {
    for (size_t i = 0; i < r->roi_count; ++i) {
        const mn_rt_roi &roi = r->rois[i];
        const std::string number = std::to_string(i + 1);
        DcmItem *structure = nullptr;
        OFCondition cond = out.findOrCreateSequenceItem(DCM_StructureSetROISequence, structure, -2);
        if (cond.good()) cond = put(*structure, DCM_ROINumber, number);
        if (cond.good()) cond = put(*structure, DCM_ReferencedFrameOfReferenceUID, r->frame_of_reference_uid);
        if (cond.good()) cond = put(*structure, DCM_ROIName, orEmpty(roi.name));
        if (cond.good() && roi.description) cond = put(*structure, DCM_ROIDescription, roi.description);
        if (cond.good()) cond = put(*structure, DCM_ROIGenerationAlgorithm, "AUTOMATIC");
        if (cond.good() && roi.algorithm_name) cond = put(*structure, DCM_ROIGenerationDescription, roi.algorithm_name);
        if (cond.bad()) return failCondition(err, cond, ("Structure Set ROI " + number).c_str());

        DcmItem *contours = nullptr;
        cond = out.findOrCreateSequenceItem(DCM_ROIContourSequence, contours, -2);
        if (cond.good()) {
            const std::string colour = std::to_string(roi.color[0]) + "\\" + std::to_string(roi.color[1]) + "\\" +
                                       std::to_string(roi.color[2]);
            cond = put(*contours, DCM_ROIDisplayColor, colour);
        }
        if (cond.good()) cond = put(*contours, DCM_ReferencedROINumber, number);
        // Contour Sequence: present even when empty would break readers; an ROI without a voxel
        // is not requested (the caller leaves it out).
        int contourNumber = 0;
        for (size_t c = 0; cond.good() && c < r->contour_count; ++c) {
            const mn_rt_contour &k = r->contours[c];
            if (k.roi != i) continue;
            DcmItem *contour = nullptr;
            cond = contours->findOrCreateSequenceItem(DCM_ContourSequence, contour, -2);
            if (cond.good()) cond = put(*contour, DCM_ContourNumber, std::to_string(++contourNumber));
            DcmItem *image = nullptr;
            if (cond.good()) cond = contour->findOrCreateSequenceItem(DCM_ContourImageSequence, image, 0);
            if (cond.good()) cond = put(*image, DCM_ReferencedSOPClassUID, orEmpty(r->images[k.image].sop_class_uid));
            if (cond.good())
                cond = put(*image, DCM_ReferencedSOPInstanceUID, orEmpty(r->images[k.image].sop_instance_uid));
            if (cond.good()) cond = put(*contour, DCM_ContourGeometricType, "CLOSED_PLANAR");
            if (cond.good()) cond = put(*contour, DCM_NumberOfContourPoints, std::to_string(k.point_count));
            if (cond.good())
                cond = put(*contour, DCM_ContourData, contourData(r->points + 3 * k.first_point, k.point_count));
        }
        if (cond.bad()) return failCondition(err, cond, ("ROI Contour " + number).c_str());

        DcmItem *observation = nullptr;
        cond = out.findOrCreateSequenceItem(DCM_RTROIObservationsSequence, observation, -2);
        if (cond.good()) cond = put(*observation, DCM_ObservationNumber, number);
        if (cond.good()) cond = put(*observation, DCM_ReferencedROINumber, number);
        if (cond.good()) cond = put(*observation, DCM_RTROIInterpretedType, orEmpty(roi.interpreted_type));
        if (cond.good()) cond = observation->insertEmptyElement(DCM_ROIInterpreter);
        if (cond.bad()) return failCondition(err, cond, ("RT ROI Observations " + number).c_str());
    }
    return MN_OK;
}

mn_status writeStructureSet(const mn_rt_request *r, const char *path, mn_error *err) {
    if (!r || !path) return fail(err, MN_ERR_ARGUMENT, "mn_rt_structure_set_write: NULL argument");
    if (mn_status s = checkRequest(r, err)) return s;

    DcmFileFormat referenceFile;
    OFCondition cond = referenceFile.loadFileUntilTag(r->reference_path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                                      ERM_autoDetect, DCM_PixelData);
    if (cond.bad()) return fail(err, MN_ERR_IO, "reading the reference source: %s", cond.text());
    DcmDataset &reference = *referenceFile.getDataset();
    OFString study, series;
    reference.findAndGetOFString(DCM_StudyInstanceUID, study);
    reference.findAndGetOFString(DCM_SeriesInstanceUID, series);
    if (study.empty() || series.empty())
        return fail(err, MN_ERR_ARGUMENT, "structure set: the reference source has no study or series UID");

    DcmFileFormat file;
    DcmDataset &out = *file.getDataset();
    if ((cond = copyPatientAndStudy(reference, out)).bad())
        return failCondition(err, cond, "copying patient and study from the source");

    OFDateTime now = OFDateTime::getCurrentDateTime();
    OFString date, time;
    now.getDate().getISOFormattedDate(date, false);
    now.getTime().getISOFormattedTime(time, true, false, false, false);
    // SOP Common (C.12.1), RT Series (C.8.8.1), General Equipment (C.7.5.1), Structure Set (C.8.8.5).
    const struct {
        DcmTagKey tag;
        std::string value;
    } values[] = {
        {DCM_SOPClassUID, UID_RTStructureSetStorage},
        {DCM_SOPInstanceUID, r->sop_instance_uid},
        {DCM_InstanceCreationDate, date.c_str()},
        {DCM_InstanceCreationTime, time.c_str()},
        {DCM_Modality, "RTSTRUCT"},
        {DCM_SeriesInstanceUID, r->series_instance_uid},
        {DCM_SeriesNumber, std::to_string(r->series_number)},
        {DCM_InstanceNumber, std::to_string(r->instance_number)},
        {DCM_Manufacturer, orEmpty(r->manufacturer)},
        {DCM_ManufacturerModelName, orEmpty(r->model_name)},
        {DCM_DeviceSerialNumber, orEmpty(r->device_serial_number)},
        {DCM_SoftwareVersions, orEmpty(r->software_versions)},
        {DCM_StructureSetLabel, r->structure_set_label},
        {DCM_StructureSetDate, date.c_str()},
        {DCM_StructureSetTime, time.c_str()},
    };
    for (const auto &v : values)
        if ((cond = put(out, v.tag, v.value)).bad()) return failCondition(err, cond, DcmTag(v.tag).getTagName());
    if (r->series_description && (cond = put(out, DCM_SeriesDescription, r->series_description)).bad())
        return failCondition(err, cond, "Series Description");
    if ((cond = out.insertEmptyElement(DCM_OperatorsName)).bad()) return failCondition(err, cond, "Operators' Name");
    // Frame of Reference (C.7.4.1): the source's, so planning systems place the contours on it.
    if ((cond = put(out, DCM_FrameOfReferenceUID, r->frame_of_reference_uid)).bad())
        return failCondition(err, cond, "Frame of Reference UID");
    {
        OFString indicator;
        reference.findAndGetOFString(DCM_PositionReferenceIndicator, indicator);
        if ((cond = put(out, DCM_PositionReferenceIndicator, indicator.c_str())).bad())
            return failCondition(err, cond, "Position Reference Indicator");
    }
    if ((cond = addReferencedFrameOfReference(r, study.c_str(), series.c_str(), out)).bad())
        return failCondition(err, cond, "Referenced Frame of Reference");
    if (mn_status s = addROIs(r, out, err)) return s;

    // Implicit VR: a contour of a large organ can exceed the 64 KiB a DS value may hold under
    // Explicit VR's 16-bit length (DCMTK would write it as UN); Implicit VR lengths are 32-bit.
    cond = file.saveFile(path, EXS_LittleEndianImplicit, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                         EWM_createNewMeta);
    if (cond.bad()) return fail(err, MN_ERR_IO, "writing %s: %s", path, cond.text());
    return MN_OK;
}

} // namespace

extern "C" mn_status mn_rt_structure_set_write(const mn_rt_request *r, const char *path, mn_error *err) {
    MN_GUARD(err, { return writeStructureSet(r, path, err); })
}
