// Comprehensive 3D SR following TID 1500 (Measurement Report), PS3.16, over dcmsr/cmr.
//
// TID1500_MeasurementReport builds language, observer context, procedure reported, image library
// and the measurement groups: TID 1411 for each SEG segment (tracking identifier and UID, finding,
// referenced segment, source series, volume in mm³) and TID 1501 for classifications, landmarks
// and distances. DCMTK 3.6.7's TID 300 has no SCOORD3D row (TID 320 Row 5), so the landmark
// points and the points a distance is inferred from are added as extra content items; both
// templates are extensible. Patient and study come from the source; the series and instance UIDs
// are the caller's, patched into the written dataset because DSRDocument makes its own.
#include "encoding.h"

#include "dcmtk/dcmsr/codes/dcm.h"
#include "dcmtk/dcmsr/cmr/tid1500.h"
#include "dcmtk/dcmsr/dsrdoc.h"

#include <memory>
#include <vector>

using namespace mn;

namespace {

DSRCodedEntryValue coded(const mn_code &c) {
    return DSRCodedEntryValue(orEmpty(c.value).c_str(), orEmpty(c.scheme).c_str(), orEmpty(c.meaning).c_str());
}

std::string decimal(double value) { return decimalString(value); }

#define MN_TRY(expr, what)                                                                                             \
    do {                                                                                                               \
        OFCondition cond_ = (expr);                                                                                    \
        if (cond_.bad()) return failCondition(err, cond_, what);                                                       \
    } while (0)

struct Sources {
    std::vector<std::unique_ptr<DcmFileFormat>> files;
    OFString study, series, frameOfReference;
};

mn_status readSources(const mn_sr_request *r, Sources &sources, mn_error *err) {
    for (size_t i = 0; i < r->source_count; ++i) {
        auto file = std::make_unique<DcmFileFormat>();
        OFCondition cond = file->loadFileUntilTag(r->source_paths[i], EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                                  ERM_autoDetect, DCM_PixelData);
        if (cond.bad()) return fail(err, MN_ERR_IO, "reading source %zu: %s", i + 1, cond.text());
        sources.files.push_back(std::move(file));
    }
    DcmDataset &first = *sources.files[0]->getDataset();
    first.findAndGetOFString(DCM_StudyInstanceUID, sources.study);
    first.findAndGetOFString(DCM_SeriesInstanceUID, sources.series);
    first.findAndGetOFString(DCM_FrameOfReferenceUID, sources.frameOfReference);
    if (sources.study.empty())
        return failTag(err, MN_ERR_MISSING_TAG, DCM_StudyInstanceUID, "source has no Study Instance UID");
    return MN_OK;
}

/// TID 1500 Rows 2–4 and TID 1600: language, device observer, procedure, image library.
mn_status addContext(TID1500_MeasurementReport &report, const mn_sr_request *r, Sources &sources, mn_error *err) {
    MN_TRY(report.setLanguage(CID5000_Languages::English), "Language of Content");
    MN_TRY(report.getObservationContext().addDeviceObserver(orEmpty(r->device_observer_uid),
                                                            orEmpty(r->device_observer_name), orEmpty(r->manufacturer),
                                                            orEmpty(r->model_name), orEmpty(r->device_serial_number)),
           "Device Observer");
    MN_TRY(report.addProcedureReported(coded(r->procedure_reported)), "Procedure Reported");
    TID1600_ImageLibrary &library = report.getImageLibrary();
    if (!library.hasImageLibrary()) MN_TRY(library.createNewImageLibrary(), "Image Library");
    MN_TRY(library.addImageGroup(), "Image Library Group");
    for (auto &file : sources.files)
        MN_TRY(library.addImageEntry(*file->getDataset(), TID1600_ImageLibrary::withoutDescriptors),
               "Image Library Entry");
    MN_TRY(library.addImageGroupDescriptors(*sources.files[0]->getDataset(), TID1600_ImageLibrary::withAllDescriptors),
           "Image Library descriptors");
    return MN_OK;
}

mn_status addVolumes(TID1500_MeasurementReport &report, const mn_sr_request *r, const Sources &sources, mn_error *err) {
    for (size_t i = 0; i < r->volume_count; ++i) {
        const mn_sr_volume &v = r->volumes[i];
        // TID1500_MeasurementReport starts with one empty group; add one for each further segment.
        if (i > 0) MN_TRY(report.addVolumetricROIMeasurements(OFFalse), "Volumetric ROI group");
        CMR_TID1411_in_TID1500 &group = report.getVolumetricROIMeasurements();
        MN_TRY(group.setTrackingIdentifier(orEmpty(v.tracking_id)), "Tracking Identifier");
        MN_TRY(group.setTrackingUniqueIdentifier(orEmpty(v.tracking_uid)), "Tracking Unique Identifier");
        MN_TRY(group.setFinding(coded(v.finding)), "Finding");
        DSRImageReferenceValue segment(UID_SegmentationStorage, orEmpty(r->seg_sop_instance_uid));
        segment.getSegmentList().addItem(v.segment_number);
        MN_TRY(group.setReferencedSegment(segment), "Referenced Segment");
        MN_TRY(group.setSourceSeriesForSegmentation(sources.series), "Source series for segmentation");
        MN_TRY(group.addMeasurement(CMR_CID7469::Volume,
                                    CMR_TID1411_in_TID1500::MeasurementValue(decimal(v.volume_mm3).c_str(),
                                                                             CMR_CID7181::CubicMillimeter)),
               "Volume");
        MN_TRY(group.getMeasurement().setAlgorithmIdentification(orEmpty(r->algorithm_name),
                                                                 orEmpty(r->algorithm_version)),
               "Algorithm Identification");
    }
    return MN_OK;
}

/// TID 1501 groups share one list in the report; the first exists already.
OFCondition nextIndividualGroup(TID1500_MeasurementReport &report, bool &first) {
    if (first) {
        first = false;
        return EC_Normal;
    }
    return report.addIndividualMeasurements(OFFalse);
}

/// A SCOORD3D POINT in the source Frame of Reference, `relation` of the current content item.
OFCondition addPoint(DSRSubTemplate &tree, DSRTypes::E_RelationshipType relation, DSRTypes::E_AddMode mode,
                     const mn_code &concept, const double *p, const OFString &frameOfReference) {
    OFCondition cond = tree.addExtraContentItem(relation, DSRTypes::VT_SCoord3D, mode);
    if (cond.bad()) return cond;
    DSRSpatialCoordinates3DValue point(DSRTypes::GT3_Point);
    point.getGraphicDataList().addItem(Float32(p[0]), Float32(p[1]), Float32(p[2]));
    cond = point.setFrameOfReferenceUID(frameOfReference);
    if (cond.good()) cond = tree.getCurrentContentItem().setConceptName(coded(concept));
    if (cond.good()) cond = tree.getCurrentContentItem().setSpatialCoordinates3D(point);
    return cond;
}

mn_status addIndividualGroups(TID1500_MeasurementReport &report, const mn_sr_request *r, const Sources &sources,
                              mn_error *err) {
    bool first = true;
    for (size_t i = 0; i < r->classification_count; ++i) {
        const mn_sr_classification &c = r->classifications[i];
        MN_TRY(nextIndividualGroup(report, first), "classification group");
        CMR_TID1501_in_TID1500 &group = report.getIndividualMeasurements();
        MN_TRY(group.setTrackingIdentifier(orEmpty(c.tracking_id)), "Tracking Identifier");
        MN_TRY(group.setTrackingUniqueIdentifier(orEmpty(c.tracking_uid)), "Tracking Unique Identifier");
        if (c.probability >= 0) {
            MN_TRY(group.addMeasurement(
                       CID7469_GenericIntensityAndSizeMeasurements(CODE_DCM_Probability),
                       CMR_TID1501_in_TID1500::MeasurementValue(decimal(c.probability).c_str(), CMR_CID7181::NoUnits)),
                   "Probability");
        }
        MN_TRY(group.addQualitativeEvaluation(coded(c.concept), coded(c.value)), "Qualitative Evaluation");
    }
    for (size_t i = 0; i < r->landmark_count; ++i) {
        const mn_sr_landmark &l = r->landmarks[i];
        MN_TRY(nextIndividualGroup(report, first), "landmark group");
        CMR_TID1501_in_TID1500 &group = report.getIndividualMeasurements();
        MN_TRY(group.setTrackingIdentifier(orEmpty(l.tracking_id)), "Tracking Identifier");
        MN_TRY(group.setTrackingUniqueIdentifier(orEmpty(l.tracking_uid)), "Tracking Unique Identifier");
        MN_TRY(group.setFinding(coded(l.concept)), "Finding");
        if (group.gotoAnnotatedNode("TID 1501 - Row 3b") == 0)
            return fail(err, MN_ERR_INTERNAL, "landmark group has no finding item");
        MN_TRY(addPoint(group, DSRTypes::RT_contains, DSRTypes::AM_afterCurrent, l.concept, l.position,
                        sources.frameOfReference),
               "landmark SCOORD3D");
    }
    for (size_t i = 0; i < r->distance_count; ++i) {
        const mn_sr_distance &d = r->distances[i];
        if (d.from >= r->landmark_count || d.to >= r->landmark_count)
            return fail(err, MN_ERR_ARGUMENT, "distance %zu names a landmark that does not exist", i + 1);
        MN_TRY(nextIndividualGroup(report, first), "distance group");
        CMR_TID1501_in_TID1500 &group = report.getIndividualMeasurements();
        MN_TRY(group.setTrackingIdentifier(orEmpty(d.tracking_id)), "Tracking Identifier");
        MN_TRY(group.setTrackingUniqueIdentifier(orEmpty(d.tracking_uid)), "Tracking Unique Identifier");
        MN_TRY(group.addMeasurement(
                   CMR_CID7469::Distance,
                   CMR_TID1501_in_TID1500::MeasurementValue(decimal(d.distance_mm).c_str(), CMR_CID7181::Millimeter)),
               "Distance");
        // TID 300 → TID 320: the distance is INFERRED FROM the two points.
        CMR_TID300_in_TID1501_in_TID1500 &measurement = group.getMeasurement();
        if (measurement.gotoAnnotatedNode("TID 300 - Row 1") == 0)
            return fail(err, MN_ERR_INTERNAL, "distance measurement has no NUM item");
        const mn_sr_landmark &a = r->landmarks[d.from], &b = r->landmarks[d.to];
        MN_TRY(addPoint(measurement, DSRTypes::RT_inferredFrom, DSRTypes::AM_belowCurrent, a.concept, a.position,
                        sources.frameOfReference),
               "distance end point");
        MN_TRY(addPoint(measurement, DSRTypes::RT_inferredFrom, DSRTypes::AM_afterCurrent, b.concept, b.position,
                        sources.frameOfReference),
               "distance end point");
    }
    return MN_OK;
}

/// Patient and study attributes exactly as the source has them, so that dcentvfy finds one
/// patient and one study across source, SEG and SR.
void copyPatientAndStudy(DcmItem &source, DcmItem &target) {
    static const DcmTagKey tags[] = {
        DCM_SpecificCharacterSet,   DCM_PatientName,      DCM_PatientID,       DCM_IssuerOfPatientID,
        DCM_PatientBirthDate,       DCM_PatientSex,       DCM_PatientAge,      DCM_PatientSize,
        DCM_PatientWeight,          DCM_StudyInstanceUID, DCM_StudyDate,       DCM_StudyTime,
        DCM_ReferringPhysicianName, DCM_StudyID,          DCM_AccessionNumber, DCM_StudyDescription,
    };
    for (const DcmTagKey &tag : tags) {
        DcmElement *element = nullptr;
        if (source.findAndGetElement(tag, element).good() && element) {
            target.insert(OFstatic_cast(DcmElement *, element->clone()), OFTrue /* replace */);
        }
    }
}

mn_status checkRequest(const mn_sr_request *r, mn_error *err) {
    if (!r->source_paths || r->source_count == 0) return fail(err, MN_ERR_ARGUMENT, "report: no source images");
    if (r->volume_count > 0 && (!r->seg_sop_instance_uid || !r->seg_series_instance_uid))
        return fail(err, MN_ERR_ARGUMENT, "report: volumes need the SEG they refer to");
    if (r->volume_count + r->classification_count + r->landmark_count + r->distance_count == 0)
        return fail(err, MN_ERR_ARGUMENT, "report: nothing to report");
    for (const char *s : {r->series_instance_uid, r->sop_instance_uid, r->device_observer_uid, r->algorithm_name,
                          r->algorithm_version, r->procedure_reported.value})
        if (!s || !*s) return fail(err, MN_ERR_ARGUMENT, "report: a required identity value is empty");
    return MN_OK;
}

mn_status writeReport(const mn_sr_request *r, const char *path, mn_error *err) {
    if (mn_status s = checkRequest(r, err)) return s;
    Sources sources;
    if (mn_status s = readSources(r, sources, err)) return s;

    TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
    if (mn_status s = addContext(report, r, sources, err)) return s;
    if (mn_status s = addVolumes(report, r, sources, err)) return s;
    if (mn_status s = addIndividualGroups(report, r, sources, err)) return s;
    for (size_t i = 0; i < r->comment_count; ++i) {
        if (!r->comments || !r->comments[i] || !*r->comments[i])
            return fail(err, MN_ERR_ARGUMENT, "report: comment %zu is empty", i + 1);
        // TID 1500 Row 14: a TEXT qualitative evaluation of the entire subject of the report.
        MN_TRY(report.addQualitativeEvaluation(CODE_DCM_Comment, r->comments[i]), "Comment");
    }
    if (!report.isValid()) return fail(err, MN_ERR_INTERNAL, "TID 1500 report is not valid");

    DSRDocument document;
    MN_TRY(document.setTreeFromRootTemplate(report, OFTrue /* expandTree */), "building the SR content tree");
    // The template makes an Enhanced SR; SCOORD3D needs Comprehensive 3D SR (PS3.3 A.35.13).
    MN_TRY(document.changeDocumentType(DSRTypes::DT_Comprehensive3DSR), "Comprehensive 3D SR");
    MN_TRY(document.createNewSeriesInStudy(sources.study), "study");
    MN_TRY(document.setSeriesNumber(std::to_string(r->series_number).c_str()), "Series Number");
    MN_TRY(document.setInstanceNumber(std::to_string(r->instance_number).c_str()), "Instance Number");
    if (r->series_description) MN_TRY(document.setSeriesDescription(r->series_description), "Series Description");
    MN_TRY(document.setManufacturer(orEmpty(r->manufacturer)), "Manufacturer");
    MN_TRY(document.setManufacturerModelName(orEmpty(r->model_name)), "Manufacturer's Model Name");
    MN_TRY(document.setDeviceSerialNumber(orEmpty(r->device_serial_number)), "Device Serial Number");
    MN_TRY(document.setSoftwareVersions(orEmpty(r->software_versions)), "Software Versions");
    MN_TRY(document.completeDocument(), "Completion Flag");

    // Current Requested Procedure Evidence (PS3.3 C.17.2.3): every instance the content refers to.
    DSRSOPInstanceReferenceList &evidence = document.getCurrentRequestedProcedureEvidence();
    for (auto &file : sources.files) {
        OFString series, sopClass, instance;
        file->getDataset()->findAndGetOFString(DCM_SeriesInstanceUID, series);
        file->getDataset()->findAndGetOFString(DCM_SOPClassUID, sopClass);
        file->getDataset()->findAndGetOFString(DCM_SOPInstanceUID, instance);
        MN_TRY(evidence.addItem(sources.study, series, sopClass, instance), "evidence");
    }
    if (r->volume_count > 0)
        MN_TRY(evidence.addItem(sources.study, r->seg_series_instance_uid, UID_SegmentationStorage,
                                r->seg_sop_instance_uid),
               "evidence");

    DcmFileFormat out;
    DcmDataset &dataset = *out.getDataset();
    MN_TRY(document.write(dataset), "writing the SR");
    copyPatientAndStudy(*sources.files[0]->getDataset(), dataset);
    MN_TRY(dataset.putAndInsertString(DCM_SeriesInstanceUID, r->series_instance_uid), "Series Instance UID");
    MN_TRY(dataset.putAndInsertString(DCM_SOPInstanceUID, r->sop_instance_uid), "SOP Instance UID");
    OFCondition cond = out.saveFile(path, EXS_LittleEndianExplicit);
    if (cond.bad()) return fail(err, MN_ERR_IO, "writing the report: %s", cond.text());
    return MN_OK;
}

} // namespace

extern "C" mn_status mn_sr_write(const mn_sr_request *r, const char *path, mn_error *err) {
    MN_GUARD(err, {
        if (!r || !path) return fail(err, MN_ERR_ARGUMENT, "mn_sr_write: NULL argument");
        return writeReport(r, path, err);
    })
}
