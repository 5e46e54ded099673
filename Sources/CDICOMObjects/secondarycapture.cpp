// Secondary Capture Image (PS3.3 A.8.1) over dcmdata: one RGB picture the node rendered (a slice
// with its findings drawn in, or a summary page), for viewers and PACS that show no SEG or SR.
//
// The IOD is flat, so the shim sets the attributes directly. The pixels go in as one array: the
// caller has drawn them already, and the write must stay a few milliseconds for a whole series.
// When the picture is a source slice, its Image Plane and Frame of Reference are copied as Standard
// Extended attributes (PS3.4 B.1.3) so that viewers link and scroll it with the source series.
#include "encoding.h"

#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/ofstd/ofdatime.h"

#include <cmath>
#include <string>

using namespace mn;

namespace {

mn_status checkRequest(const mn_sc_request *r, mn_error *err) {
    if (!r->reference_path) return fail(err, MN_ERR_ARGUMENT, "secondary capture: no reference source file");
    if (!isUID(r->series_instance_uid) || !isUID(r->sop_instance_uid))
        return fail(err, MN_ERR_ARGUMENT, "secondary capture: series and instance UID are required");
    if (r->rows == 0 || r->columns == 0 || !r->rgb) return fail(err, MN_ERR_ARGUMENT, "secondary capture: no pixels");
    // Pixel Data has a 32-bit length (PS3.5 7.1.2); 0xFFFFFFFF means undefined length.
    if (size_t(r->rows) * r->columns * 3 >= 0xFFFFFFFFu)
        return fail(err, MN_ERR_ARGUMENT, "secondary capture: %ux%u pixels exceed a Pixel Data value", r->rows,
                    r->columns);
    if (r->source.sop_instance_uid && (!isUID(r->source.sop_instance_uid) || !isUID(r->source.sop_class_uid)))
        return fail(err, MN_ERR_ARGUMENT, "secondary capture: the source image lacks a valid class or instance UID");
    if (r->has_plane && !isUID(r->frame_of_reference_uid))
        return fail(err, MN_ERR_ARGUMENT, "secondary capture: an image plane needs a Frame of Reference UID");
    return MN_OK;
}

/// The strings the request adds, besides UIDs and numbers. They are UTF-8 (from Swift).
bool requestIsASCII(const mn_sc_request *r) {
    for (const char *s : {r->derivation_description, r->series_description, r->manufacturer, r->model_name,
                          r->device_serial_number, r->software_versions})
        if (!isASCII(s)) return false;
    return true;
}

std::string decimals(const double *values, int count) {
    std::string text;
    for (int i = 0; i < count; ++i) {
        if (i) text += '\\';
        text += decimalString(values[i]);
    }
    return text;
}

/// Patient Orientation (C.7.6.1.1.1): the patient directions of the row and of the column, the
/// dominant axis first. General Image has it as Type 2C, required because the SC IOD has no Image
/// Plane module; without a plane it is written empty.
std::string patientOrientation(const mn_sc_request *r) {
    if (!r->has_plane) return std::string();
    std::string text;
    for (int v = 0; v < 2; ++v) {
        const double *c = r->orientation + 3 * v;
        const char *letters[3][2] = {{"L", "R"}, {"P", "A"}, {"H", "F"}}; // +x, -x; +y, -y; +z, -z (LPS)
        int order[3] = {0, 1, 2};
        for (int i = 0; i < 3; ++i)
            for (int j = i + 1; j < 3; ++j)
                if (std::fabs(c[order[j]]) > std::fabs(c[order[i]])) std::swap(order[i], order[j]);
        if (v) text += '\\';
        // A further letter only where the direction leans more than about 15° (cosine 0.25) that way.
        for (int i = 0; i < 3; ++i)
            if (i == 0 || std::fabs(c[order[i]]) >= 0.25) text += letters[order[i]][c[order[i]] < 0 ? 1 : 0];
    }
    return text;
}

/// Source Image Sequence (C.7.6.1): the slice the picture was drawn from, with Purpose of
/// Reference (121322, DCM, "Source image for image processing operation") from CID 7202.
OFCondition addSourceImage(const mn_sc_request *r, DcmItem &out) {
    DcmItem *source = nullptr;
    OFCondition cond = out.findOrCreateSequenceItem(DCM_SourceImageSequence, source, 0);
    if (cond.good()) cond = put(*source, DCM_ReferencedSOPClassUID, r->source.sop_class_uid);
    if (cond.good()) cond = put(*source, DCM_ReferencedSOPInstanceUID, r->source.sop_instance_uid);
    if (cond.good() && r->source.frame_number > 0)
        cond = put(*source, DCM_ReferencedFrameNumber, std::to_string(r->source.frame_number));
    DcmItem *purpose = nullptr;
    if (cond.good()) cond = source->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, 0);
    if (cond.good()) cond = put(*purpose, DCM_CodeValue, "121322");
    if (cond.good()) cond = put(*purpose, DCM_CodingSchemeDesignator, "DCM");
    if (cond.good()) cond = put(*purpose, DCM_CodeMeaning, "Source image for image processing operation");
    return cond;
}

/// Body Part Examined, Laterality (General Series, Type 2C) and Image Laterality as the source has
/// them: the picture shows the same part. When the source names neither the part nor a side, whether
/// Laterality is required (for a paired part, C.7.3.1) is unknown, and it is written empty: unknown.
OFCondition copyLaterality(DcmItem &reference, DcmItem &out) {
    bool found[3] = {false, false, false};
    const DcmTagKey tags[3] = {DCM_BodyPartExamined, DCM_Laterality, DCM_ImageLaterality};
    for (int i = 0; i < 3; ++i) {
        DcmElement *element = nullptr;
        if (reference.findAndGetElement(tags[i], element).good() && element) {
            OFCondition cond = out.insert(static_cast<DcmElement *>(element->clone()), true);
            if (cond.bad()) return cond;
            found[i] = true;
        }
    }
    if (!found[0] && !found[1] && !found[2]) return out.insertEmptyElement(DCM_Laterality);
    return EC_Normal;
}

mn_status writeSecondaryCapture(const mn_sc_request *r, const char *path, mn_error *err) {
    if (mn_status s = checkRequest(r, err)) return s;

    DcmFileFormat referenceFile;
    if (mn_status s = readReference(r->reference_path, referenceFile, err)) return s;
    DcmDataset &reference = *referenceFile.getDataset();
    OFCondition cond;
    OFString study;
    reference.findAndGetOFString(DCM_StudyInstanceUID, study);
    if (study.empty())
        return failTag(err, MN_ERR_MISSING_TAG, DCM_StudyInstanceUID, "the reference source has no Study Instance UID");

    DcmFileFormat file;
    DcmDataset &out = *file.getDataset();
    if ((cond = copyPatientAndStudy(reference, out)).bad())
        return failCondition(err, cond, "copying patient and study from the source");
    // One Specific Character Set must encode the copied values and the request's own text (UTF-8):
    // when the latter is not ASCII, the copied values are converted to UTF-8 (PS3.5 6.1.2.3).
    if (!requestIsASCII(r)) {
        OFString charset;
        out.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
        if (charset != "ISO_IR 192" && (cond = out.convertToUTF8()).bad())
            return failCondition(err, cond, "converting the source's patient and study to UTF-8");
    }

    OFDateTime now = OFDateTime::getCurrentDateTime();
    OFString date, time;
    now.getDate().getISOFormattedDate(date, false);
    now.getTime().getISOFormattedTime(time, true, false, false, false);
    // SOP Common (C.12.1), General Series (C.7.3.1), General Equipment (C.7.5.1), SC Equipment
    // (C.8.6.1), General Image (C.7.6.1), SC Image (C.8.6.2) and Image Pixel (C.7.6.3).
    const struct {
        DcmTagKey tag;
        std::string value;
    } values[] = {
        {DCM_SOPClassUID, UID_SecondaryCaptureImageStorage},
        {DCM_SOPInstanceUID, r->sop_instance_uid},
        {DCM_InstanceCreationDate, date.c_str()},
        {DCM_InstanceCreationTime, time.c_str()},
        {DCM_Modality, "OT"},
        {DCM_SeriesInstanceUID, r->series_instance_uid},
        {DCM_SeriesNumber, std::to_string(r->series_number)},
        {DCM_Manufacturer, orEmpty(r->manufacturer)},
        {DCM_ManufacturerModelName, orEmpty(r->model_name)},
        {DCM_DeviceSerialNumber, orEmpty(r->device_serial_number)},
        {DCM_SoftwareVersions, orEmpty(r->software_versions)},
        // Workstation: the picture is a rendering, not a digitized film or video (C.8.6.1).
        {DCM_ConversionType, "WSD"},
        {DCM_SecondaryCaptureDeviceManufacturer, orEmpty(r->manufacturer)},
        {DCM_SecondaryCaptureDeviceManufacturerModelName, orEmpty(r->model_name)},
        {DCM_SecondaryCaptureDeviceSoftwareVersions, orEmpty(r->software_versions)},
        {DCM_InstanceNumber, std::to_string(r->instance_number)},
        {DCM_PatientOrientation, patientOrientation(r)},
        {DCM_ContentDate, date.c_str()},
        {DCM_ContentTime, time.c_str()},
        {DCM_ImageType, "DERIVED\\SECONDARY"},
        // The picture may show the patient's name and dates (a captioned slice, a summary page): YES
        // keeps de-identification from passing it as clean (C.7.6.1).
        {DCM_BurnedInAnnotation, "YES"},
        {DCM_LossyImageCompression, "00"},
        {DCM_DateOfSecondaryCapture, date.c_str()},
        {DCM_TimeOfSecondaryCapture, time.c_str()},
        {DCM_PhotometricInterpretation, "RGB"},
    };
    for (const auto &v : values)
        if ((cond = put(out, v.tag, v.value)).bad()) return failCondition(err, cond, DcmTag(v.tag).getTagName());
    if ((cond = copyLaterality(reference, out)).bad()) return failCondition(err, cond, "Laterality");
    if (r->series_description && (cond = put(out, DCM_SeriesDescription, r->series_description)).bad())
        return failCondition(err, cond, "Series Description");
    if (r->derivation_description && (cond = put(out, DCM_DerivationDescription, r->derivation_description)).bad())
        return failCondition(err, cond, "Derivation Description");
    if (r->source.sop_instance_uid && (cond = addSourceImage(r, out)).bad())
        return failCondition(err, cond, "Source Image Sequence");

    if (r->has_plane) {
        // Image Plane (C.7.6.2) and Frame of Reference (C.7.4.1) of the source slice.
        const struct {
            DcmTagKey tag;
            std::string value;
        } plane[] = {
            {DCM_ImagePositionPatient, decimals(r->position, 3)},
            {DCM_ImageOrientationPatient, decimals(r->orientation, 6)},
            {DCM_PixelSpacing, decimals(r->pixel_spacing, 2)},
            {DCM_FrameOfReferenceUID, r->frame_of_reference_uid},
        };
        for (const auto &v : plane)
            if ((cond = put(out, v.tag, v.value)).bad()) return failCondition(err, cond, DcmTag(v.tag).getTagName());
        if (r->slice_thickness > 0 && (cond = put(out, DCM_SliceThickness, decimalString(r->slice_thickness))).bad())
            return failCondition(err, cond, "Slice Thickness");
        OFString indicator;
        reference.findAndGetOFString(DCM_PositionReferenceIndicator, indicator);
        if ((cond = put(out, DCM_PositionReferenceIndicator, indicator.c_str())).bad())
            return failCondition(err, cond, "Position Reference Indicator");
    }

    // Image Pixel: 8-bit RGB, colour-by-pixel (Planar Configuration 0), as the caller drew it.
    const struct {
        DcmTagKey tag;
        Uint16 value;
    } pixelModule[] = {
        {DCM_SamplesPerPixel, 3}, {DCM_PlanarConfiguration, 0}, {DCM_Rows, r->rows}, {DCM_Columns, r->columns},
        {DCM_BitsAllocated, 8},   {DCM_BitsStored, 8},          {DCM_HighBit, 7},    {DCM_PixelRepresentation, 0},
    };
    for (const auto &v : pixelModule)
        if ((cond = out.putAndInsertUint16(v.tag, v.value)).bad())
            return failCondition(err, cond, DcmTag(v.tag).getTagName());
    const unsigned long length = static_cast<unsigned long>(r->rows) * r->columns * 3;
    if ((cond = out.putAndInsertUint8Array(DCM_PixelData, r->rgb, length)).bad())
        return failCondition(err, cond, "Pixel Data");

    cond = file.saveFile(path, EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                         EWM_createNewMeta);
    if (cond.bad()) return fail(err, MN_ERR_IO, "writing %s: %s", path, cond.text());
    return MN_OK;
}

} // namespace

extern "C" mn_status mn_sc_write(const mn_sc_request *r, const char *path, mn_error *err) {
    MN_GUARD(err, {
        if (!r || !path) return fail(err, MN_ERR_ARGUMENT, "mn_sc_write: NULL argument");
        return writeSecondaryCapture(r, path, err);
    })
}
