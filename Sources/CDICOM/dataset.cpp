// Data set reading, element access and writing over DCMTK's dcmdata.
#include "dataset.h"

#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcrlerp.h"
#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpeg/djrploss.h"
#include "dcmtk/dcmjpls/djrparam.h"

#include <cerrno>
#include <cstdlib>
#include <sys/stat.h>

using namespace mn;

namespace {

/// DCMTK pads string values with spaces (and UIDs with NUL); callers want the value.
std::string trimmed(const OFString &s) {
    size_t end = s.size();
    while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\0')) --end;
    size_t begin = 0;
    while (begin < end && s[begin] == ' ') ++begin;
    return std::string(s.c_str() + begin, end - begin);
}

mn_dataset *newHandle(std::shared_ptr<DatasetRoot> root, DcmItem *item) {
    auto *h = new mn_dataset;
    h->root = std::move(root);
    h->item = item;
    return h;
}

} // namespace

extern "C" mn_status mn_dataset_open(const char *path, int32_t stop_before_pixel_data, mn_dataset **out,
                                     mn_error *err) {
    MN_GUARD(err, {
        if (!path || !out) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_open: NULL argument");
        *out = nullptr;
        struct stat st;
        if (::stat(path, &st) != 0) return fail(err, MN_ERR_IO, "cannot open: %s", std::strerror(errno));
        if (!S_ISREG(st.st_mode)) return fail(err, MN_ERR_IO, "not a regular file");
        auto root = std::make_shared<DatasetRoot>();
        root->path = path;
        root->headerOnly = stop_before_pixel_data != 0;
        OFCondition cond =
            root->headerOnly ? root->file.loadFileUntilTag(path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                                           ERM_autoDetect, DCM_PixelData)
                             : root->file.loadFile(path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
        if (cond.bad()) {
            // DCMTK reports a non-DICOM stream as an invalid stream or missing meta header.
            mn_status code = statusFor(cond);
            if (st.st_size < 132 || code == MN_ERR_INTERNAL) code = MN_ERR_NOT_DICOM;
            return fail(err, code, "cannot read DICOM: %s", cond.text());
        }
        DcmDataset *ds = root->file.getDataset();
        if (!ds || ds->card() == 0) return fail(err, MN_ERR_NOT_DICOM, "no data elements (not a DICOM file)");
        *out = newHandle(root, ds);
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_create(mn_dataset **out, mn_error *err) {
    MN_GUARD(err, {
        if (!out) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_create: NULL argument");
        auto root = std::make_shared<DatasetRoot>();
        *out = newHandle(root, root->file.getDataset());
        return MN_OK;
    })
}

extern "C" void mn_dataset_free(mn_dataset *ds) { delete ds; }

extern "C" mn_status mn_dataset_transfer_syntax(const mn_dataset *ds, char **out, mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !out) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_transfer_syntax: NULL argument");
        DcmXfer xfer(ds->root->file.getDataset()->getOriginalXfer());
        if (xfer.getXfer() == EXS_Unknown) {
            OFString ts;
            if (ds->root->file.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).good() && !ts.empty()) {
                *out = dupString(trimmed(ts));
                return MN_OK;
            }
            return fail(err, MN_ERR_MISSING_TAG, "transfer syntax unknown");
        }
        *out = dupString(xfer.getXferID());
        return MN_OK;
    })
}

extern "C" int32_t mn_dataset_has(const mn_dataset *ds, uint32_t tag) {
    if (!ds) return 0;
    try {
        return ds->item->tagExists(tagKey(tag)) ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

namespace {

/// Finds a top-level element of the item; MN_ERR_MISSING_TAG when absent.
mn_status findElement(const mn_dataset *ds, uint32_t tag, DcmElement *&element, mn_error *err) {
    DcmTagKey key = tagKey(tag);
    if (ds->item->findAndGetElement(key, element, OFFalse /* no deep search */).bad() || !element)
        return failTag(err, MN_ERR_MISSING_TAG, key, "missing %s %s", DcmTag(key).toString().c_str(),
                       DcmTag(key).getTagName());
    return MN_OK;
}

} // namespace

extern "C" mn_status mn_dataset_get_string(const mn_dataset *ds, uint32_t tag, char **out, mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !out) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_get_string: NULL argument");
        DcmElement *element = nullptr;
        if (mn_status s = findElement(ds, tag, element, err)) return s;
        if (element->ident() == EVR_SQ || element->ident() == EVR_OB || element->ident() == EVR_OW ||
            element->ident() == EVR_pixelItem || element->ident() == EVR_PixelData)
            return failTag(err, MN_ERR_BAD_VALUE, tagKey(tag), "%s is not a text or number element",
                           DcmTag(tagKey(tag)).toString().c_str());
        OFString value;
        OFCondition cond = element->getOFStringArray(value);
        if (cond.bad())
            return failTag(err, statusFor(cond), tagKey(tag), "%s: %s", DcmTag(tagKey(tag)).toString().c_str(),
                           cond.text());
        *out = dupString(trimmed(value));
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_get_float64s(const mn_dataset *ds, uint32_t tag, double *values, size_t capacity,
                                             size_t *count, mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !count || (capacity > 0 && !values))
            return fail(err, MN_ERR_ARGUMENT, "mn_dataset_get_float64s: NULL argument");
        *count = 0;
        DcmElement *element = nullptr;
        if (mn_status s = findElement(ds, tag, element, err)) return s;
        const DcmTagKey key = tagKey(tag);
        const unsigned long vm = element->getVM();
        if (vm == 0 || element->getLength() == 0)
            return failTag(err, MN_ERR_MISSING_TAG, key, "%s %s is empty", DcmTag(key).toString().c_str(),
                           DcmTag(key).getTagName());
        *count = vm;
        for (unsigned long i = 0; i < vm && i < capacity; ++i) {
            double v = 0;
            OFCondition cond = EC_Normal;
            switch (element->ident()) {
            case EVR_DS:
            case EVR_IS:
            case EVR_US:
            case EVR_SS:
            case EVR_UL:
            case EVR_SL:
            case EVR_FL:
            case EVR_FD:
            case EVR_OF:
            case EVR_OD:
                break;
            default:
                return failTag(err, MN_ERR_BAD_VALUE, key, "%s has VR %s, not a number", DcmTag(key).toString().c_str(),
                               DcmVR(element->ident()).getVRName());
            }
            switch (element->ident()) {
            case EVR_DS:
            case EVR_IS: {
                OFString text;
                cond = element->getOFString(text, i);
                if (cond.good()) {
                    std::string t = trimmed(text);
                    char *end = nullptr;
                    errno = 0;
                    v = std::strtod(t.c_str(), &end);
                    if (t.empty() || end == t.c_str() || *end != '\0' || errno == ERANGE)
                        return failTag(err, MN_ERR_BAD_VALUE, key, "%s value %lu is not a number",
                                       DcmTag(key).toString().c_str(), i + 1);
                }
                break;
            }
            case EVR_US: {
                Uint16 x;
                cond = element->getUint16(x, i);
                v = x;
                break;
            }
            case EVR_SS: {
                Sint16 x;
                cond = element->getSint16(x, i);
                v = x;
                break;
            }
            case EVR_UL: {
                Uint32 x;
                cond = element->getUint32(x, i);
                v = x;
                break;
            }
            case EVR_SL: {
                Sint32 x;
                cond = element->getSint32(x, i);
                v = x;
                break;
            }
            case EVR_FL:
            case EVR_OF: {
                Float32 x;
                cond = element->getFloat32(x, i);
                v = x;
                break;
            }
            default: {
                Float64 x;
                cond = element->getFloat64(x, i);
                v = x;
                break;
            }
            }
            if (cond.bad())
                return failTag(err, MN_ERR_BAD_VALUE, key, "%s: %s", DcmTag(key).toString().c_str(), cond.text());
            values[i] = v;
        }
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_sequence_count(const mn_dataset *ds, uint32_t tag, size_t *count, mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !count) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_sequence_count: NULL argument");
        DcmElement *element = nullptr;
        if (mn_status s = findElement(ds, tag, element, err)) return s;
        if (element->ident() != EVR_SQ)
            return failTag(err, MN_ERR_BAD_VALUE, tagKey(tag), "%s is not a sequence",
                           DcmTag(tagKey(tag)).toString().c_str());
        *count = static_cast<DcmSequenceOfItems *>(element)->card();
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_sequence_item(const mn_dataset *ds, uint32_t tag, size_t index, mn_dataset **out,
                                              mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !out) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_sequence_item: NULL argument");
        *out = nullptr;
        DcmElement *element = nullptr;
        if (mn_status s = findElement(ds, tag, element, err)) return s;
        if (element->ident() != EVR_SQ)
            return failTag(err, MN_ERR_BAD_VALUE, tagKey(tag), "%s is not a sequence",
                           DcmTag(tagKey(tag)).toString().c_str());
        auto *sq = static_cast<DcmSequenceOfItems *>(element);
        if (index >= sq->card())
            return failTag(err, MN_ERR_ARGUMENT, tagKey(tag), "item %zu of %s out of range (%lu items)", index,
                           DcmTag(tagKey(tag)).toString().c_str(), sq->card());
        DcmItem *item = sq->getItem(static_cast<unsigned long>(index));
        if (!item) return failTag(err, MN_ERR_CORRUPT, tagKey(tag), "item %zu unreadable", index);
        *out = newHandle(ds->root, item);
        return MN_OK;
    })
}

extern "C" size_t mn_dataset_element_count(const mn_dataset *ds) {
    if (!ds) return 0;
    return ds->item->card();
}

extern "C" mn_status mn_dataset_element_at(const mn_dataset *ds, size_t index, uint32_t *tag, char vr[3],
                                           mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !tag || !vr) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_element_at: NULL argument");
        DcmElement *element = ds->item->getElement(static_cast<unsigned long>(index));
        if (!element) return fail(err, MN_ERR_ARGUMENT, "element %zu out of range", index);
        *tag = tagValue(element->getTag());
        const char *name = DcmVR(element->ident()).getValidVRName();
        vr[0] = name[0];
        vr[1] = name[1];
        vr[2] = '\0';
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_set_string(mn_dataset *ds, uint32_t tag, const char *value, mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !value) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_set_string: NULL argument");
        DcmTagKey key = tagKey(tag);
        OFCondition cond = ds->item->putAndInsertString(key, value, OFTrue /* replace */);
        if (cond.bad())
            return failTag(err, statusFor(cond), key, "cannot set %s: %s", DcmTag(key).toString().c_str(), cond.text());
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_sequence_append(mn_dataset *ds, uint32_t tag, mn_dataset **item, mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !item) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_sequence_append: NULL argument");
        DcmTagKey key = tagKey(tag);
        DcmItem *newItem = nullptr;
        OFCondition cond = ds->item->findOrCreateSequenceItem(key, newItem, -2 /* append */);
        if (cond.bad() || !newItem)
            return failTag(err, statusFor(cond), key, "cannot append item to %s: %s", DcmTag(key).toString().c_str(),
                           cond.text());
        *item = newHandle(ds->root, newItem);
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_set_pixel_data(mn_dataset *ds, const void *bytes, size_t length, int32_t bits_allocated,
                                               mn_error *err) {
    MN_GUARD(err, {
        if (!ds || (!bytes && length > 0))
            return fail(err, MN_ERR_ARGUMENT, "mn_dataset_set_pixel_data: NULL argument");
        if (length % 2 != 0 && bits_allocated > 8)
            return fail(err, MN_ERR_ARGUMENT, "pixel data length %zu is odd for %d bits", length, bits_allocated);
        OFCondition cond;
        if (bits_allocated <= 8) {
            cond = ds->item->putAndInsertUint8Array(DCM_PixelData, static_cast<const Uint8 *>(bytes), length);
        } else {
            // Input is little endian; DCMTK wants host order (also little endian on every target we build).
            cond = ds->item->putAndInsertUint16Array(DCM_PixelData, static_cast<const Uint16 *>(bytes), length / 2);
        }
        if (cond.bad()) return failCondition(err, cond, "cannot set Pixel Data");
        return MN_OK;
    })
}

extern "C" mn_status mn_dataset_write(mn_dataset *ds, const char *path, const char *transfer_syntax_uid,
                                      mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !path || !transfer_syntax_uid) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_write: NULL argument");
        if (ds->item != ds->root->file.getDataset())
            return fail(err, MN_ERR_ARGUMENT, "only a whole dataset can be written");
        if (ds->root->headerOnly)
            return fail(err, MN_ERR_ARGUMENT, "a dataset read without pixel data cannot be written");
        DcmXfer xfer(transfer_syntax_uid);
        if (xfer.getXfer() == EXS_Unknown)
            return fail(err, MN_ERR_UNSUPPORTED, "unknown transfer syntax %s", transfer_syntax_uid);
        DcmDataset *dataset = ds->root->file.getDataset();
        OFCondition cond = EC_Normal;
        if (xfer.isEncapsulated()) {
            // Parameters per codec family; lossless JPEG uses first-order prediction (selection value 1).
            DJ_RPLossless losslessSV1(1, 0);
            DJ_RPLossless lossless14(6, 0);
            DJ_RPLossy lossy(90);
            DJLSRepresentationParameter jls(2, OFTrue);
            DJLSRepresentationParameter jlsLossless(0, OFTrue);
            DcmRLERepresentationParameter rle;
            const DcmRepresentationParameter *param = nullptr;
            switch (xfer.getXfer()) {
            case EXS_JPEGProcess14SV1:
                param = &losslessSV1;
                break;
            case EXS_JPEGProcess14:
                param = &lossless14;
                break;
            case EXS_JPEGProcess1:
            case EXS_JPEGProcess2_4:
                param = &lossy;
                break;
            case EXS_JPEGLSLossless:
                param = &jlsLossless;
                break;
            case EXS_JPEGLSLossy:
                param = &jls;
                break;
            case EXS_RLELossless:
                param = &rle;
                break;
            default:
                return fail(err, MN_ERR_UNSUPPORTED, "encoding to %s is not supported", xfer.getXferName());
            }
            cond = dataset->chooseRepresentation(xfer.getXfer(), param);
            if (cond.bad()) return failCondition(err, cond, "cannot compress");
            if (!dataset->canWriteXfer(xfer.getXfer()))
                return fail(err, MN_ERR_UNSUPPORTED, "cannot encode this dataset as %s", xfer.getXferName());
        } else {
            cond = dataset->chooseRepresentation(xfer.getXfer(), nullptr);
            if (cond.bad()) return failCondition(err, cond, "cannot convert");
        }
        cond = ds->root->file.saveFile(path, xfer.getXfer(), EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                                       EWM_createNewMeta);
        if (cond.bad())
            return fail(err, statusFor(cond) == MN_ERR_INTERNAL ? MN_ERR_IO : statusFor(cond), "cannot write %s: %s",
                        path, cond.text());
        return MN_OK;
    })
}
