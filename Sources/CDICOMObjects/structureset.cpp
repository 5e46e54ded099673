// RT Structure Set writer (PS3.3 A.19) over dcmrt: DRTStructureSetIOD holds the modules and their
// sequences and writes them into the data set, checking Type 1 and 2 attributes; the shim saves
// that data set itself (see the transfer syntax below). The caller (Swift) has traced the
// contours and checked the values.
//
// dcmrt's setters can check each value. Values the node makes (UIDs, numbers, code strings, dates)
// are checked, Contour Data by the shim itself (addContours); values copied from the source go in
// as the source has them, as the old dcmdata writer copied them; text (LO, SH, ST) goes in
// unchecked because dcmrt checks it against the default repertoire only (the setters take no
// Specific Character Set), so a non-ASCII ROI name that the source's character set holds would be
// refused. Attributes of Type 3 left empty are not written (dcmrt writes empty only Type 2 ones).
#include "encoding.h"

#include "dcmtk/dcmrt/drtstrct.h"
#include "dcmtk/ofstd/ofdatime.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

using namespace mn;

namespace {

/// RT Referenced Study items reference the study by this SOP class (PS3.3 C.8.8.5, "Study
/// Component Management" retired; the Detached Study Management SOP Class UID is what
/// dciodvfy and most writers use).
const char *const kStudyReferenceClass = "1.2.840.10008.3.1.2.3.1";

/// The `check` argument of dcmrt's setters (see the top of this file).
const OFBool kChecked = OFTrue;
const OFBool kAsGiven = OFFalse;

/// A string setter of the IOD (they all take the value and `check`).
using Setter = OFCondition (DRTStructureSetIOD::*)(const OFString &, const OFBool);

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

/// The text the request adds besides UIDs, numbers and codes: UTF-8 from Swift.
bool requestIsASCII(const mn_rt_request *r) {
    for (const char *s : {r->structure_set_label, r->series_description, r->manufacturer, r->model_name,
                          r->device_serial_number, r->software_versions})
        if (!isASCII(s)) return false;
    for (size_t i = 0; i < r->roi_count; ++i)
        for (const char *s : {r->rois[i].name, r->rois[i].description, r->rois[i].algorithm_name})
            if (!isASCII(s)) return false;
    return true;
}

/// Patient (C.7.1.1) and General Study (C.7.2.1): the attributes copyPatientAndStudy copies, with
/// their values as the source has them, and the Specific Character Set (C.12.1) that encodes them.
/// Handed to dcmrt as strings: its readStudyData copies an element only into one of its own VR
/// (DcmElement::copyFrom), so a source that wrote Patient ID as SH would lose it, and reading the
/// source itself would bring along the rest of its modules. Type 2 attributes the source lacks are
/// written empty by dcmrt.
mn_status setPatientAndStudy(DcmItem &reference, DRTStructureSetIOD &iod, bool utf8, mn_error *err) {
    static const struct {
        DcmTagKey tag;
        Setter set;
    } setters[] = {
        {DCM_SpecificCharacterSet, &DRTStructureSetIOD::setSpecificCharacterSet},
        {DCM_PatientName, &DRTStructureSetIOD::setPatientName},
        {DCM_PatientID, &DRTStructureSetIOD::setPatientID},
        {DCM_PatientBirthDate, &DRTStructureSetIOD::setPatientBirthDate},
        {DCM_PatientSex, &DRTStructureSetIOD::setPatientSex},
        {DCM_StudyInstanceUID, &DRTStructureSetIOD::setStudyInstanceUID},
        {DCM_StudyDate, &DRTStructureSetIOD::setStudyDate},
        {DCM_StudyTime, &DRTStructureSetIOD::setStudyTime},
        {DCM_ReferringPhysicianName, &DRTStructureSetIOD::setReferringPhysicianName},
        {DCM_StudyID, &DRTStructureSetIOD::setStudyID},
        {DCM_AccessionNumber, &DRTStructureSetIOD::setAccessionNumber},
        {DCM_StudyDescription, &DRTStructureSetIOD::setStudyDescription},
    };
    DcmDataset copied;
    OFCondition cond = copyPatientAndStudy(reference, copied);
    if (cond.bad()) return failCondition(err, cond, "copying patient and study from the source");
    // One Specific Character Set must encode the copied values and the request's own text (UTF-8
    // from Swift): when the latter is not ASCII, the copied values go to UTF-8 (PS3.5 6.1.2.3).
    if (utf8) {
        OFString charset;
        copied.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
        if (charset != "ISO_IR 192" && (cond = copied.convertToUTF8()).bad())
            return failCondition(err, cond, "converting the source's patient and study to UTF-8");
    }
    for (unsigned long n = 0; n < copied.card(); ++n) {
        DcmElement *element = copied.getElement(n);
        DcmTag tag = element->getTag();
        Setter set = nullptr;
        for (const auto &s : setters)
            if (s.tag == tag) set = s.set;
        if (!set) return fail(err, MN_ERR_INTERNAL, "structure set: no dcmrt setter for %s", tag.getTagName());
        // Not normalised: a leading space in a Patient ID is the source's, and stays.
        OFString value;
        element->getOFStringArray(value, OFFalse);
        if ((cond = (iod.*set)(value, kAsGiven)).bad()) return failCondition(err, cond, tag.getTagName());
    }
    return MN_OK;
}

/// A Contour Image Sequence item: the source image's own UIDs (C.8.8.5, C.8.8.6).
OFCondition setImage(DRTContourImageSequence::Item &item, const mn_seg_source_frame &image) {
    OFCondition cond = item.setReferencedSOPClassUID(orEmpty(image.sop_class_uid).c_str(), kAsGiven);
    if (cond.good()) cond = item.setReferencedSOPInstanceUID(orEmpty(image.sop_instance_uid).c_str(), kAsGiven);
    return cond;
}

/// Referenced Frame of Reference → RT Referenced Study → RT Referenced Series → Contour Image
/// Sequence listing every source image (PS3.3 C.8.8.5).
OFCondition addReferencedFrameOfReference(const mn_rt_request *r, const OFString &study, const OFString &series,
                                          DRTStructureSetIOD &iod) {
    DRTReferencedFrameOfReferenceSequence::Item *frame = nullptr;
    OFCondition cond = iod.getReferencedFrameOfReferenceSequence().addItem(frame);
    if (cond.good()) cond = frame->setFrameOfReferenceUID(r->frame_of_reference_uid, kChecked);
    DRTRTReferencedStudySequence::Item *studyItem = nullptr;
    if (cond.good()) cond = frame->getRTReferencedStudySequence().addItem(studyItem);
    if (cond.good()) cond = studyItem->setReferencedSOPClassUID(kStudyReferenceClass, kChecked);
    if (cond.good()) cond = studyItem->setReferencedSOPInstanceUID(study, kAsGiven);
    DRTRTReferencedSeriesSequence::Item *seriesItem = nullptr;
    if (cond.good()) cond = studyItem->getRTReferencedSeriesSequence().addItem(seriesItem);
    if (cond.good()) cond = seriesItem->setSeriesInstanceUID(series, kAsGiven);
    for (size_t i = 0; cond.good() && i < r->image_count; ++i) {
        DRTContourImageSequence::Item *image = nullptr;
        cond = seriesItem->getContourImageSequence().addItem(image);
        if (cond.good()) cond = setImage(*image, r->images[i]);
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

/// The ROI Contour item's Contour Sequence (C.8.8.6): ROI `roi`'s CLOSED_PLANAR contours in
/// request order, each on the one source image its Contour Image Sequence names. An ROI without a
/// voxel is not requested (the caller leaves it out), so the sequence is never empty.
///
/// Contour Data skips dcmrt's value check: contourData() writes every value itself, and the check
/// (a DS scan per value, 3.6 million values for five organs on a 300-slice CT) would double the
/// writer's time. What the check would refuse, a point that is not a finite number, is refused here.
mn_status addContours(const mn_rt_request *r, size_t roi, DRTContourSequence &out, const std::string &number,
                      mn_error *err) {
    int contourNumber = 0;
    for (size_t c = 0; c < r->contour_count; ++c) {
        const mn_rt_contour &k = r->contours[c];
        if (k.roi != roi) continue;
        const double *points = r->points + 3 * k.first_point;
        if (!std::all_of(points, points + 3 * size_t(k.point_count), [](double v) { return std::isfinite(v); }))
            return fail(err, MN_ERR_BAD_VALUE, "ROI Contour %s: contour %zu has a point that is not a finite number",
                        number.c_str(), c);
        DRTContourSequence::Item *contour = nullptr;
        OFCondition cond = out.addItem(contour);
        if (cond.good()) cond = contour->setContourNumber(std::to_string(++contourNumber).c_str(), kChecked);
        DRTContourImageSequence::Item *image = nullptr;
        if (cond.good()) cond = contour->getContourImageSequence().addItem(image);
        if (cond.good()) cond = setImage(*image, r->images[k.image]);
        if (cond.good()) cond = contour->setContourGeometricType("CLOSED_PLANAR", kChecked);
        if (cond.good()) cond = contour->setNumberOfContourPoints(std::to_string(k.point_count).c_str(), kChecked);
        if (cond.good()) cond = contour->setContourData(contourData(points, k.point_count).c_str(), kAsGiven);
        if (cond.bad()) return failCondition(err, cond, ("ROI Contour " + number).c_str());
    }
    return MN_OK;
}

/// Structure Set ROI, ROI Contour and RT ROI Observations items, one of each per ROI.
mn_status addROIs(const mn_rt_request *r, DRTStructureSetIOD &iod, mn_error *err) {
    for (size_t i = 0; i < r->roi_count; ++i) {
        const mn_rt_roi &roi = r->rois[i];
        const std::string number = std::to_string(i + 1);
        DRTStructureSetROISequence::Item *structure = nullptr;
        OFCondition cond = iod.getStructureSetROISequence().addItem(structure);
        if (cond.good()) cond = structure->setROINumber(number.c_str(), kChecked);
        if (cond.good()) cond = structure->setReferencedFrameOfReferenceUID(r->frame_of_reference_uid, kChecked);
        if (cond.good()) cond = structure->setROIName(orEmpty(roi.name).c_str(), kAsGiven);
        if (cond.good() && roi.description) cond = structure->setROIDescription(roi.description, kAsGiven);
        if (cond.good()) cond = structure->setROIGenerationAlgorithm("AUTOMATIC", kChecked);
        if (cond.good() && roi.algorithm_name)
            cond = structure->setROIGenerationDescription(roi.algorithm_name, kAsGiven);
        if (cond.bad()) return failCondition(err, cond, ("Structure Set ROI " + number).c_str());

        DRTROIContourSequence::Item *contours = nullptr;
        cond = iod.getROIContourSequence().addItem(contours);
        if (cond.good()) {
            const std::string colour = std::to_string(roi.color[0]) + "\\" + std::to_string(roi.color[1]) + "\\" +
                                       std::to_string(roi.color[2]);
            cond = contours->setROIDisplayColor(colour.c_str(), kChecked);
        }
        if (cond.good()) cond = contours->setReferencedROINumber(number.c_str(), kChecked);
        if (cond.bad()) return failCondition(err, cond, ("ROI Contour " + number).c_str());
        if (mn_status s = addContours(r, i, contours->getContourSequence(), number, err)) return s;

        // ROI Interpreter (Type 2) stays empty: no person interpreted the ROI.
        DRTRTROIObservationsSequence::Item *observation = nullptr;
        cond = iod.getRTROIObservationsSequence().addItem(observation);
        if (cond.good()) cond = observation->setObservationNumber(number.c_str(), kChecked);
        if (cond.good()) cond = observation->setReferencedROINumber(number.c_str(), kChecked);
        if (cond.good()) cond = observation->setRTROIInterpretedType(orEmpty(roi.interpreted_type).c_str(), kChecked);
        if (cond.bad()) return failCondition(err, cond, ("RT ROI Observations " + number).c_str());
    }
    return MN_OK;
}

mn_status writeStructureSet(const mn_rt_request *r, const char *path, mn_error *err) {
    if (!r || !path) return fail(err, MN_ERR_ARGUMENT, "mn_rt_structure_set_write: NULL argument");
    if (mn_status s = checkRequest(r, err)) return s;

    DcmFileFormat referenceFile;
    if (mn_status s = readReference(r->reference_path, referenceFile, err)) return s;
    DcmDataset &reference = *referenceFile.getDataset();
    OFCondition cond;
    OFString study, series, indicator;
    reference.findAndGetOFString(DCM_StudyInstanceUID, study);
    reference.findAndGetOFString(DCM_SeriesInstanceUID, series);
    reference.findAndGetOFString(DCM_PositionReferenceIndicator, indicator);
    if (study.empty() || series.empty())
        return fail(err, MN_ERR_ARGUMENT, "structure set: the reference source has no study or series UID");

    // On the heap: the IOD has a member for every attribute of its modules (drtstrct.h).
    auto iod = std::make_unique<DRTStructureSetIOD>();
    if (mn_status s = setPatientAndStudy(reference, *iod, !requestIsASCII(r), err)) return s;

    OFDateTime now = OFDateTime::getCurrentDateTime();
    OFString date, time;
    now.getDate().getISOFormattedDate(date, false);
    now.getTime().getISOFormattedTime(time, true, false, false, false);
    // SOP Common (C.12.1; dcmrt sets the SOP Class UID), RT Series (C.8.8.1; Operators' Name is
    // Type 2 and written empty), General Equipment (C.7.5.1), Frame of Reference (C.7.4.1: the
    // source's, so planning systems place the contours on it) and Structure Set (C.8.8.5).
    const struct {
        Setter set;
        DcmTagKey tag;
        std::string value;
        OFBool check;
    } values[] = {
        {&DRTStructureSetIOD::setSOPInstanceUID, DCM_SOPInstanceUID, r->sop_instance_uid, kChecked},
        {&DRTStructureSetIOD::setInstanceCreationDate, DCM_InstanceCreationDate, date.c_str(), kChecked},
        {&DRTStructureSetIOD::setInstanceCreationTime, DCM_InstanceCreationTime, time.c_str(), kChecked},
        {&DRTStructureSetIOD::setModality, DCM_Modality, "RTSTRUCT", kChecked},
        {&DRTStructureSetIOD::setSeriesInstanceUID, DCM_SeriesInstanceUID, r->series_instance_uid, kChecked},
        {&DRTStructureSetIOD::setSeriesNumber, DCM_SeriesNumber, std::to_string(r->series_number), kChecked},
        {&DRTStructureSetIOD::setSeriesDescription, DCM_SeriesDescription, orEmpty(r->series_description), kAsGiven},
        {&DRTStructureSetIOD::setManufacturer, DCM_Manufacturer, orEmpty(r->manufacturer), kAsGiven},
        {&DRTStructureSetIOD::setManufacturerModelName, DCM_ManufacturerModelName, orEmpty(r->model_name), kAsGiven},
        {&DRTStructureSetIOD::setDeviceSerialNumber, DCM_DeviceSerialNumber, orEmpty(r->device_serial_number),
         kAsGiven},
        {&DRTStructureSetIOD::setSoftwareVersions, DCM_SoftwareVersions, orEmpty(r->software_versions), kAsGiven},
        {&DRTStructureSetIOD::setFrameOfReferenceUID, DCM_FrameOfReferenceUID, r->frame_of_reference_uid, kChecked},
        {&DRTStructureSetIOD::setPositionReferenceIndicator, DCM_PositionReferenceIndicator, indicator.c_str(),
         kAsGiven},
        {&DRTStructureSetIOD::setStructureSetLabel, DCM_StructureSetLabel, r->structure_set_label, kAsGiven},
        {&DRTStructureSetIOD::setInstanceNumber, DCM_InstanceNumber, std::to_string(r->instance_number), kChecked},
        {&DRTStructureSetIOD::setStructureSetDate, DCM_StructureSetDate, date.c_str(), kChecked},
        {&DRTStructureSetIOD::setStructureSetTime, DCM_StructureSetTime, time.c_str(), kChecked},
    };
    for (const auto &v : values)
        if ((cond = ((*iod).*v.set)(v.value.c_str(), v.check)).bad())
            return failCondition(err, cond, DcmTag(v.tag).getTagName());
    if ((cond = addReferencedFrameOfReference(r, study, series, *iod)).bad())
        return failCondition(err, cond, "Referenced Frame of Reference");
    if (mn_status s = addROIs(r, *iod, err)) return s;

    DcmFileFormat file;
    cond = iod->write(*file.getDataset());
    // dcmrt refuses an empty Type 1 value (RT_EC_InvalidValue) and names it only in its log.
    if (cond == RT_EC_InvalidValue)
        return fail(err, MN_ERR_BAD_VALUE, "structure set: a Type 1 value is empty (label, a UID or an image's UIDs)");
    if (cond.bad()) return failCondition(err, cond, "dcmrt: writing the structure set");
    iod.reset(); // the data set holds its own copy of the contours: one copy while saving

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
