// Key Object Selection Document (PS3.3 A.35.4) over dcmsr: the content tree of PS3.16 TID 2010
// ("Of Interest") listing instances the node produced or selected, so that viewers offer them as
// key objects of the study.
//
// DSRDocument writes the SOP Common, Key Object Document Series and Key Object Document modules;
// it does not fill Current Requested Procedure Evidence from the tree, so every reference is added
// there too. Patient and study come from the source through DSRDocument's readStudyData, which
// leaves Specific Character Set alone: that is set from the source as well. The series and instance
// UIDs are the caller's, patched into the written dataset because DSRDocument makes its own.
#include "encoding.h"

#include "dcmtk/dcmsr/codes/dcm.h"
#include "dcmtk/dcmsr/dsrdoc.h"

using namespace mn;

namespace {

#define MN_TRY(expr, what)                                                                                             \
    do {                                                                                                               \
        OFCondition cond_ = (expr);                                                                                    \
        if (cond_.bad()) return failCondition(err, cond_, what);                                                       \
    } while (0)

/// The value type a reference gets in TID 2010: IMAGE for image SOP classes, WAVEFORM for waveforms,
/// COMPOSITE for everything else (SR, RT Structure Set, presentation states, ...). A Segmentation is
/// referenced as IMAGE: it is an image IOD (PS3.3 A.51, multi-frame with Pixel Data), the Image
/// Reference Macro provides for it (PS3.3 C.18.4, Referenced Segment Number), TID 1411 refers to
/// a SEG through IMAGE, and dcmsr's IMAGE value accepts it; with IMAGE a frame can be named.
DSRTypes::E_ValueType valueType(const char *sopClass) {
    if (dcmIsImageStorageSOPClassUID(sopClass) || std::strcmp(sopClass, UID_SegmentationStorage) == 0)
        return DSRTypes::VT_Image;
    // The Waveform Storage SOP Classes share this root (PS3.6 Annex A, PS3.4 B.5).
    static const char waveformRoot[] = "1.2.840.10008.5.1.4.1.1.9.";
    if (std::strncmp(sopClass, waveformRoot, sizeof(waveformRoot) - 1) == 0) return DSRTypes::VT_Waveform;
    return DSRTypes::VT_Composite;
}

mn_status checkRequest(const mn_ko_request *r, mn_error *err) {
    if (!r->reference_path) return fail(err, MN_ERR_ARGUMENT, "key objects: no reference source file");
    if (!isUID(r->series_instance_uid) || !isUID(r->sop_instance_uid))
        return fail(err, MN_ERR_ARGUMENT, "key objects: series and instance UID are required");
    if (!r->references || r->reference_count == 0)
        return fail(err, MN_ERR_ARGUMENT, "key objects: at least one referenced instance is required");
    for (size_t i = 0; i < r->reference_count; ++i) {
        const mn_ko_reference &k = r->references[i];
        if (!isUID(k.series_instance_uid) || !isUID(k.sop_class_uid) || !isUID(k.sop_instance_uid))
            return fail(err, MN_ERR_ARGUMENT, "key objects: reference %zu lacks a valid series, class or instance UID",
                        i);
        // Referenced Frame Number belongs to IMAGE (and SEG as IMAGE) references only (C.18.4).
        if (k.frame_number > 0 && valueType(k.sop_class_uid) != DSRTypes::VT_Image)
            return fail(err, MN_ERR_ARGUMENT, "key objects: reference %zu names a frame of a non-image object", i);
    }
    return MN_OK;
}

/// The strings the request adds, besides UIDs and numbers. They are UTF-8 (from Swift).
bool requestIsASCII(const mn_ko_request *r) {
    for (const char *s : {r->description, r->series_description, r->manufacturer, r->model_name,
                          r->device_serial_number, r->software_versions})
        if (!isASCII(s)) return false;
    return true;
}

/// Patient and study of the source, in the character set the document is written in: the
/// source's, unless the request's own text is not ASCII and the source is not UTF-8 already; the
/// copied values are then converted to UTF-8 (ISO_IR 192) so that one Specific Character Set
/// encodes the whole document (PS3.5 6.1.2.3).
mn_status readPatientAndStudy(DSRDocument &document, DcmItem &reference, bool utf8, mn_error *err) {
    DcmDataset copied;
    MN_TRY(copyPatientAndStudy(reference, copied), "copying patient and study from the source");
    // Type 3 values copyPatientAndStudy leaves out, read by readStudyData when present.
    for (const DcmTagKey &tag : {DCM_IssuerOfPatientID, DCM_PatientSize, DCM_PatientWeight}) {
        DcmElement *element = nullptr;
        if (reference.findAndGetElement(tag, element).good() && element)
            MN_TRY(copied.insert(static_cast<DcmElement *>(element->clone()), true), "copying patient data");
    }
    OFString charset;
    copied.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
    if (utf8 && charset != "ISO_IR 192") {
        MN_TRY(copied.convertToUTF8(), "converting the source's patient and study to UTF-8");
        charset = "ISO_IR 192";
    }
    MN_TRY(document.readStudyData(copied), "reading patient and study");
    if (!charset.empty()) MN_TRY(document.setSpecificCharacterSet(charset), "Specific Character Set");
    return MN_OK;
}

/// TID 2010: root CONTAINER (113000, DCM, "Of Interest") with the Content Template Sequence that
/// A.35.4 requires (dcmsr does not write it for KO by itself), the optional Key Object Description
/// TEXT, then one IMAGE, WAVEFORM or COMPOSITE item per reference, in request order.
mn_status buildTree(DSRDocument &document, const mn_ko_request *r, mn_error *err) {
    DSRDocumentTree &tree = document.getTree();
    if (tree.addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container) == 0)
        return fail(err, MN_ERR_INTERNAL, "key objects: cannot add the root container");
    MN_TRY(tree.getCurrentContentItem().setConceptName(CODE_DCM_OfInterest), "document title");
    MN_TRY(tree.getCurrentContentItem().setTemplateIdentification("2010", "DCMR"), "template identification");
    DSRTypes::E_AddMode mode = DSRTypes::AM_belowCurrent;
    if (!isEmpty(r->description)) {
        if (tree.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Text, mode) == 0)
            return fail(err, MN_ERR_INTERNAL, "key objects: cannot add the description");
        MN_TRY(tree.getCurrentContentItem().setConceptName(CODE_DCM_KeyObjectDescription), "Key Object Description");
        MN_TRY(tree.getCurrentContentItem().setStringValue(r->description), "Key Object Description");
        mode = DSRTypes::AM_afterCurrent;
    }
    for (size_t i = 0; i < r->reference_count; ++i) {
        const mn_ko_reference &k = r->references[i];
        const DSRTypes::E_ValueType type = valueType(k.sop_class_uid);
        if (tree.addContentItem(DSRTypes::RT_contains, type, mode) == 0)
            return fail(err, MN_ERR_INTERNAL, "key objects: cannot add reference %zu", i);
        mode = DSRTypes::AM_afterCurrent;
        DSRContentItem &item = tree.getCurrentContentItem();
        OFCondition cond;
        if (type == DSRTypes::VT_Image) {
            DSRImageReferenceValue image(k.sop_class_uid, k.sop_instance_uid);
            if (k.frame_number > 0) image.getFrameList().addItem(static_cast<Sint32>(k.frame_number));
            cond = item.setImageReference(image);
        } else if (type == DSRTypes::VT_Waveform) {
            cond = item.setWaveformReference(DSRWaveformReferenceValue(k.sop_class_uid, k.sop_instance_uid));
        } else {
            cond = item.setCompositeReference(DSRCompositeReferenceValue(k.sop_class_uid, k.sop_instance_uid));
        }
        if (cond.bad()) return fail(err, MN_ERR_BAD_VALUE, "key objects: reference %zu: %s", i, cond.text());
    }
    return MN_OK;
}

mn_status writeKeyObjects(const mn_ko_request *r, const char *path, mn_error *err) {
    if (mn_status s = checkRequest(r, err)) return s;

    DcmFileFormat referenceFile;
    if (mn_status s = readReference(r->reference_path, referenceFile, err)) return s;
    DcmDataset &reference = *referenceFile.getDataset();
    OFCondition cond;
    OFString study;
    reference.findAndGetOFString(DCM_StudyInstanceUID, study);
    if (study.empty())
        return failTag(err, MN_ERR_MISSING_TAG, DCM_StudyInstanceUID, "the reference source has no Study Instance UID");

    DSRDocument document(DSRTypes::DT_KeyObjectSelectionDocument);
    if (mn_status s = readPatientAndStudy(document, reference, !requestIsASCII(r), err)) return s;
    if (mn_status s = buildTree(document, r, err)) return s;

    // Key Object Document Series (C.17.6.1; Modality KO, Referenced Performed Procedure Step
    // Sequence written empty by dcmsr) and Key Object Document (C.17.6.2; Content Date and Time
    // are the instance creation's) modules, General Equipment (C.7.5.1).
    MN_TRY(document.createNewSeriesInStudy(study), "study");
    MN_TRY(document.setSeriesNumber(std::to_string(r->series_number).c_str()), "Series Number");
    MN_TRY(document.setInstanceNumber(std::to_string(r->instance_number).c_str()), "Instance Number");
    if (r->series_description) MN_TRY(document.setSeriesDescription(r->series_description), "Series Description");
    MN_TRY(document.setManufacturer(orEmpty(r->manufacturer)), "Manufacturer");
    MN_TRY(document.setManufacturerModelName(orEmpty(r->model_name)), "Manufacturer's Model Name");
    MN_TRY(document.setDeviceSerialNumber(orEmpty(r->device_serial_number)), "Device Serial Number");
    MN_TRY(document.setSoftwareVersions(orEmpty(r->software_versions)), "Software Versions");

    // Current Requested Procedure Evidence (C.17.6.2.1): for a KO, exactly the instances it
    // references, grouped by study and series (the list does the grouping).
    DSRSOPInstanceReferenceList &evidence = document.getCurrentRequestedProcedureEvidence();
    for (size_t i = 0; i < r->reference_count; ++i) {
        const mn_ko_reference &k = r->references[i];
        MN_TRY(evidence.addItem(study, k.series_instance_uid, k.sop_class_uid, k.sop_instance_uid), "evidence");
    }

    DcmFileFormat out;
    DcmDataset &dataset = *out.getDataset();
    MN_TRY(document.write(dataset), "writing the key object selection");
    MN_TRY(dataset.putAndInsertString(DCM_SeriesInstanceUID, r->series_instance_uid), "Series Instance UID");
    MN_TRY(dataset.putAndInsertString(DCM_SOPInstanceUID, r->sop_instance_uid), "SOP Instance UID");
    cond = out.saveFile(path, EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                        EWM_createNewMeta);
    if (cond.bad()) return fail(err, MN_ERR_IO, "writing %s: %s", path, cond.text());
    return MN_OK;
}

} // namespace

extern "C" mn_status mn_ko_write(const mn_ko_request *r, const char *path, mn_error *err) {
    MN_GUARD(err, {
        if (!r || !path) return fail(err, MN_ERR_ARGUMENT, "mn_ko_write: NULL argument");
        return writeKeyObjects(r, path, err);
    })
}
