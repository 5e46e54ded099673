// Helpers shared by the object writers of CDICOMObjects. Never included by Swift.
#ifndef MAMBANODE_SHIM_ENCODING_H
#define MAMBANODE_SHIM_ENCODING_H

#include "shim_internal.h"
#include "cdicom_objects.h"

#include <string>

namespace mn {

/// A Decimal String value of at most 16 characters (PS3.5 6.2), as precise as fits.
inline std::string decimalString(double value) {
    char text[32];
    for (int digits = 15; digits > 0; --digits) {
        snprintf(text, sizeof(text), "%.*g", digits, value);
        if (std::strlen(text) <= 16) break;
    }
    return text;
}

inline bool isEmpty(const char *s) { return !s || !*s; }

/// A valid UID value: non-empty, digits and dots, at most 64 characters (PS3.5 9.1).
inline bool isUID(const char *s) { return !isEmpty(s) && DcmUniqueIdentifier::checkStringValue(s, "1").good(); }

inline bool isASCII(const char *s) {
    for (; s && *s; ++s)
        if (static_cast<unsigned char>(*s) > 0x7F) return false;
    return true;
}

/// Reads the header (up to Pixel Data) of the source file whose patient and study a new object
/// is filed under.
inline mn_status readReference(const char *path, DcmFileFormat &file, mn_error *err) {
    OFCondition cond =
        file.loadFileUntilTag(path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect, DCM_PixelData);
    if (cond.bad()) return fail(err, MN_ERR_IO, "reading the reference source: %s", cond.text());
    return MN_OK;
}

/// The request's optional strings: NULL becomes empty.
inline std::string orEmpty(const char *s) { return s ? std::string(s) : std::string(); }

inline OFCondition put(DcmItem &item, const DcmTagKey &tag, const std::string &value) {
    return item.putAndInsertOFStringArray(tag, value.c_str());
}

/// Patient and General Study attributes copied as they are (Type 2 ones written empty when the
/// source lacks them), with the character set that encodes them.
inline OFCondition copyPatientAndStudy(DcmItem &reference, DcmItem &out) {
    static const DcmTagKey copied[] = {
        DCM_SpecificCharacterSet, DCM_PatientName,     DCM_PatientID, DCM_PatientBirthDate,       DCM_PatientSex,
        DCM_StudyInstanceUID,     DCM_StudyDate,       DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID,
        DCM_AccessionNumber,      DCM_StudyDescription};
    for (const DcmTagKey &tag : copied) {
        DcmElement *element = nullptr;
        if (reference.findAndGetElement(tag, element).good() && element) {
            OFCondition cond = out.insert(static_cast<DcmElement *>(element->clone()), true);
            if (cond.bad()) return cond;
        } else if (tag != DCM_SpecificCharacterSet && tag != DCM_StudyDescription) {
            OFCondition cond = out.insertEmptyElement(tag);
            if (cond.bad()) return cond;
        }
    }
    return EC_Normal;
}

} // namespace mn

#endif
