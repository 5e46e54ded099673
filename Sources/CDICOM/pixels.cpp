// Pixel Data: geometry of the stored samples and frame decoding (PS3.5 §8, Annex A.4).
// DCMTK decodes native, deflated, JPEG (baseline, extended, lossless), JPEG-LS and RLE; GDCM
// decodes JPEG 2000, which DCMTK's free edition cannot.
#include "dataset.h"

#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmPixelFormat.h>

using namespace mn;

namespace {

Uint16 getU16(DcmItem *item, const DcmTagKey &key, Uint16 fallback, bool &present) {
    Uint16 v = 0;
    present = item->findAndGetUint16(key, v).good();
    return present ? v : fallback;
}

bool isJPEG2000(E_TransferSyntax xfer) {
    return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 || xfer == EXS_JPEG2000MulticomponentLosslessOnly ||
           xfer == EXS_JPEG2000Multicomponent;
}

/// Copies stored values of one frame into int32, honouring Bits Stored / High Bit / Pixel
/// Representation (PS3.5 §8.1.1): bits above High Bit may carry overlays or garbage.
template <typename T> void extract(const T *src, size_t count, const mn_pixel_info &info, int32_t *out) {
    const uint32_t shift = info.high_bit + 1 - info.bits_stored;
    const uint32_t bits = info.bits_stored;
    const uint64_t mask = bits >= 32 ? 0xFFFFFFFFull : ((1ull << bits) - 1);
    const bool isSigned = info.pixel_representation == 1;
    const uint64_t signBit = 1ull << (bits - 1);
    for (size_t i = 0; i < count; ++i) {
        uint64_t v = (static_cast<uint64_t>(src[i]) >> shift) & mask;
        if (isSigned && (v & signBit))
            out[i] = static_cast<int32_t>(static_cast<int64_t>(v) - static_cast<int64_t>(mask) - 1);
        else out[i] = static_cast<int32_t>(v);
    }
}

/// Reorders a colour-by-plane frame (RRR…GGG…BBB) to colour-by-pixel (RGBRGB…).
void interleave(int32_t *data, size_t pixels, uint32_t samples) {
    std::vector<int32_t> planes(data, data + pixels * samples);
    for (size_t p = 0; p < pixels; ++p)
        for (uint32_t s = 0; s < samples; ++s) data[p * samples + s] = planes[s * pixels + p];
}

} // namespace

extern "C" mn_status mn_dataset_pixel_info(const mn_dataset *ds, mn_pixel_info *info, mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !info) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_pixel_info: NULL argument");
        *info = mn_pixel_info{};
        DcmItem *item = ds->item;
        bool present = false;
        info->rows = getU16(item, DCM_Rows, 0, present);
        if (!present) return failTag(err, MN_ERR_MISSING_TAG, DCM_Rows, "missing (0028,0010) Rows");
        info->columns = getU16(item, DCM_Columns, 0, present);
        if (!present) return failTag(err, MN_ERR_MISSING_TAG, DCM_Columns, "missing (0028,0011) Columns");
        info->bits_allocated = getU16(item, DCM_BitsAllocated, 0, present);
        if (!present) return failTag(err, MN_ERR_MISSING_TAG, DCM_BitsAllocated, "missing (0028,0100) Bits Allocated");
        info->samples_per_pixel = getU16(item, DCM_SamplesPerPixel, 1, present);
        info->bits_stored = getU16(item, DCM_BitsStored, static_cast<Uint16>(info->bits_allocated), present);
        info->high_bit = getU16(item, DCM_HighBit, static_cast<Uint16>(info->bits_stored - 1), present);
        info->pixel_representation = getU16(item, DCM_PixelRepresentation, 0, present);
        info->planar_configuration = getU16(item, DCM_PlanarConfiguration, 0, present);
        Sint32 frames = 1;
        if (item->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
        info->number_of_frames = static_cast<uint32_t>(frames);
        OFString photometric;
        item->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
        std::snprintf(info->photometric, sizeof(info->photometric), "%s", photometric.c_str());
        info->encapsulated = DcmXfer(ds->root->file.getDataset()->getOriginalXfer()).isEncapsulated() ? 1 : 0;

        if (info->rows == 0 || info->columns == 0)
            return failTag(err, MN_ERR_BAD_VALUE, DCM_Rows, "image is %u × %u", info->rows, info->columns);
        if (info->samples_per_pixel != 1 && info->samples_per_pixel != 3)
            return failTag(err, MN_ERR_UNSUPPORTED, DCM_SamplesPerPixel, "(0028,0002) Samples per Pixel %u",
                           info->samples_per_pixel);
        // Bits Allocated 1 (SEG, PS3.3 C.8.20.2.1) is described here but not decoded below.
        if (info->bits_allocated != 1 && info->bits_allocated != 8 && info->bits_allocated != 16 &&
            info->bits_allocated != 32)
            return failTag(err, MN_ERR_UNSUPPORTED, DCM_BitsAllocated, "(0028,0100) Bits Allocated %u",
                           info->bits_allocated);
        if (info->bits_stored == 0 || info->bits_stored > info->bits_allocated)
            return failTag(err, MN_ERR_BAD_VALUE, DCM_BitsStored, "(0028,0101) Bits Stored %u with Bits Allocated %u",
                           info->bits_stored, info->bits_allocated);
        if (info->high_bit + 1 < info->bits_stored || info->high_bit >= info->bits_allocated)
            return failTag(err, MN_ERR_BAD_VALUE, DCM_HighBit, "(0028,0102) High Bit %u with Bits Stored %u",
                           info->high_bit, info->bits_stored);
        return MN_OK;
    })
}

namespace {

/// GDCM's PixmapReader reads the Image Pixel module with gdcm::Attribute, which asserts (and
/// Debian's GDCM keeps assertions: the process aborts) when one of these elements is not the
/// single US value PS3.3 C.7.6.3 defines. Found by Scripts/fuzz dataset (regression input
/// Tests/Fixtures/fuzz/dataset/crash-gdcm-bits-stored-vr). So such a file never reaches GDCM:
/// DCMTK has parsed the same file, and an element it sees with another VR or length is refused.
mn_status checkForGdcm(DcmItem *item, mn_error *err) {
    static const DcmTagKey kSingleUS[] = {DCM_SamplesPerPixel, DCM_PlanarConfiguration, DCM_Rows,
                                          DCM_Columns,         DCM_BitsAllocated,       DCM_BitsStored,
                                          DCM_HighBit,         DCM_PixelRepresentation};
    for (const DcmTagKey &key : kSingleUS) {
        DcmElement *element = nullptr;
        if (item->findAndGetElement(key, element).bad() || !element) continue;
        if (element->ident() != EVR_US || element->getLength() != 2)
            return failTag(err, MN_ERR_CORRUPT, key, "(%04X,%04X) is not a single US value (VR %s, %u bytes)",
                           key.getGroup(), key.getElement(), DcmVR(element->ident()).getVRName(),
                           static_cast<unsigned>(element->getLength()));
    }
    return MN_OK;
}

/// DCMTK 3.6.7's RLE decoder trusts the segment offsets of each fragment's header and reads out
/// of bounds when they point past the fragment (found by Scripts/fuzz dataset, regression input
/// Tests/Fixtures/fuzz/dataset/crash-dcmtk-rle-offsets). PS3.5 G.5: a 64-byte header of 16
/// little-endian UL, the segment count (1...15) then its offsets, the first 64, each greater
/// than the last and inside the fragment. A fragment that breaks this never reaches DCMTK.
mn_status checkRLEFragments(DcmPixelData *pixelData, E_TransferSyntax xfer, mn_error *err) {
    const DcmRepresentationParameter *parameter = nullptr;
    DcmPixelSequence *sequence = nullptr;
    if (pixelData->getEncapsulatedRepresentation(xfer, parameter, sequence).bad() || !sequence)
        return failTag(err, MN_ERR_CORRUPT, DCM_PixelData, "(7FE0,0010) Pixel Data has no fragments");
    // Item 0 is the Basic Offset Table.
    for (unsigned long index = 1; index < sequence->card(); ++index) {
        DcmPixelItem *fragment = nullptr;
        Uint8 *bytes = nullptr;
        if (sequence->getItem(fragment, index).bad() || !fragment || fragment->getUint8Array(bytes).bad()) continue;
        const Uint32 length = fragment->getLength();
        auto ul = [bytes](unsigned i) {
            return Uint32(bytes[4 * i]) | Uint32(bytes[4 * i + 1]) << 8 | Uint32(bytes[4 * i + 2]) << 16 |
                   Uint32(bytes[4 * i + 3]) << 24;
        };
        bool valid = bytes && length >= 64;
        const Uint32 segments = valid ? ul(0) : 0;
        valid = valid && segments >= 1 && segments <= 15 && ul(1) == 64;
        for (Uint32 s = 2; valid && s <= segments; ++s) valid = ul(s) > ul(s - 1);
        if (valid) valid = ul(segments) < length;
        if (!valid)
            return failTag(err, MN_ERR_CORRUPT, DCM_PixelData,
                           "RLE fragment %lu has an invalid segment header (PS3.5 G.5)", index);
    }
    return MN_OK;
}

/// Whether GDCM 3.0's own marker walk over a JPEG 2000 codestream (`parsej2k_imp`, run after
/// OpenJPEG has read the header, to tell lossless from lossy) stops inside `length` bytes. It
/// skips each marker segment by its length without checking that the segment fits, so a length
/// running past the buffer sends it reading through unmapped memory (SEGV; found by Scripts/fuzz
/// dataset, regression input crash-gdcm-j2k-marker-length). The walk mirrors GDCM's: markers
/// without a length (ISO/IEC 15444-1 A.1.3: SOC, SOD, EOC, EPH, FF30–FF3F) are stepped over, SOD
/// ends it, COD (A.6.1) ends it unless the wavelet is reversible, a length below 2 ends it. It
/// must end that way inside the fragment: GDCM reads the first fragment alone, and a walk that
/// ends inside it ends at the same place in any longer buffer that starts with it.
bool gdcmMarkerWalkEnds(const Uint8 *bytes, Uint32 length) {
    Uint32 at = 0;
    while (at + 2 <= length) {
        const Uint32 marker = Uint32(bytes[at]) << 8 | bytes[at + 1];
        at += 2;
        const bool noLength = (marker >= 0xFF30 && marker <= 0xFF3F) || marker == 0xFF4F || marker == 0xFF93 ||
                              marker == 0xFFD9 || marker == 0xFF92;
        if (noLength) {
            if (marker == 0xFF93) return true; // SOD
            continue;
        }
        if (at + 2 > length) return false;
        const Uint32 segment = Uint32(bytes[at]) << 8 | bytes[at + 1];
        at += 2;
        if (segment < 2) return true;
        if (marker == 0xFF52) { // COD: GDCM reads SGcod's transform byte (+4) and SPcod's wavelet (+9)
            if (at + 10 > length) return false;
            if (bytes[at + 4] > 1 || bytes[at + 9] != 1) return true;
        }
        if (segment - 2 > length - at) return false;
        at += segment - 2;
    }
    return false;
}

/// The same for a JP2 file in a fragment (GDCM's `parsejp2_imp`: boxes, ISO/IEC 15444-1 I.4, up to
/// the contiguous codestream box, whose codestream is then walked as above). GDCM takes a
/// fragment for JP2 only when its first 13 bytes are the signature box and a zero byte.
bool gdcmJP2WalkEnds(const Uint8 *bytes, Uint32 length) {
    Uint64 at = 0;
    auto u32 = [bytes](Uint64 i) {
        return Uint32(bytes[i]) << 24 | Uint32(bytes[i + 1]) << 16 | Uint32(bytes[i + 2]) << 8 | bytes[i + 3];
    };
    while (at + 8 <= length) {
        Uint64 box = u32(at);
        const Uint32 type = u32(at + 4);
        at += 8;
        Uint64 header = 8;
        if (box == 1) { // XLBox: a 64-bit length follows
            if (at + 8 > length) return false;
            box = Uint64(u32(at)) << 32 | u32(at + 4);
            at += 8;
            header = 16;
        }
        if (type == 0x6A703263) { // 'jp2c'
            const Uint64 rest = length - at;
            const Uint64 content = box == 0 ? rest : (box < header ? Uint64(-1) : box - header);
            return content <= rest && gdcmMarkerWalkEnds(bytes + at, Uint32(content));
        }
        if (box < header || box - header > length - at) return false;
        at += box - header;
    }
    return false;
}

/// GDCM 3.0's JPEG 2000 codec copies what OpenJPEG decodes into a buffer sized from the DICOM
/// header, trusting that the codestream's image size agrees: a SIZ marker claiming more rows than
/// (0028,0010) overruns it (SEGV; found by Scripts/fuzz dataset, regression input
/// Tests/Fixtures/fuzz/dataset/crash-gdcm-j2k-siz-rows). So every codestream (a fragment starting
/// with SOC, or the first inside a JP2 wrapper) must declare, in its SIZ marker (ISO/IEC 15444-1
/// A.5.1), the header's Columns × Rows, Samples per Pixel components and precisions within Bits
/// Allocated; otherwise the file never reaches GDCM.
mn_status checkJPEG2000Fragments(DcmPixelData *pixelData, E_TransferSyntax xfer, const mn_pixel_info &info,
                                 mn_error *err) {
    const DcmRepresentationParameter *parameter = nullptr;
    DcmPixelSequence *sequence = nullptr;
    if (pixelData->getEncapsulatedRepresentation(xfer, parameter, sequence).bad() || !sequence)
        return failTag(err, MN_ERR_CORRUPT, DCM_PixelData, "(7FE0,0010) Pixel Data has no fragments");
    unsigned long codestreams = 0, endMarkers = 0;
    for (unsigned long index = 1; index < sequence->card(); ++index) { // item 0: the Basic Offset Table
        DcmPixelItem *fragment = nullptr;
        Uint8 *bytes = nullptr;
        if (sequence->getItem(fragment, index).bad() || !fragment || fragment->getUint8Array(bytes).bad() || !bytes) {
            if (index == 1) return failTag(err, MN_ERR_CORRUPT, DCM_PixelData, "JPEG 2000 fragment 1 is empty");
            continue;
        }
        const Uint32 length = fragment->getLength();
        // GDCM decodes a frame's bytes only up to their last 0xD9 (EOC's second byte) and asserts
        // that there is one; a frame without it aborts the process.
        if (std::find(bytes, bytes + length, Uint8(0xD9)) != bytes + length) ++endMarkers;
        Uint32 start = 0;
        const bool soc = length >= 4 && bytes[0] == 0xFF && bytes[1] == 0x4F;
        const bool jp2 = length >= 12 && bytes[4] == 'j' && bytes[5] == 'P' && bytes[6] == ' ' && bytes[7] == ' ';
        if (!soc && !jp2) {
            // GDCM reads the first fragment as a codestream whatever it holds.
            if (index == 1)
                return failTag(err, MN_ERR_CORRUPT, DCM_PixelData,
                               "JPEG 2000 fragment 1 starts no codestream (no SOC marker)");
            continue; // a continuation fragment of the frame before
        }
        static const Uint8 gdcmJP2Magic[13] = {0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A, 0};
        const bool gdcmSeesJP2 = length >= 13 && std::memcmp(bytes, gdcmJP2Magic, 13) == 0;
        if (!(gdcmSeesJP2 ? gdcmJP2WalkEnds(bytes, length) : gdcmMarkerWalkEnds(bytes, length)))
            return failTag(err, MN_ERR_CORRUPT, DCM_PixelData,
                           "JPEG 2000 fragment %lu: a marker segment runs past the fragment before SOD "
                           "(ISO/IEC 15444-1 A.1.4)",
                           index);
        if (jp2) {
            while (start + 4 <= length && !(bytes[start] == 0xFF && bytes[start + 1] == 0x4F &&
                                            bytes[start + 2] == 0xFF && bytes[start + 3] == 0x51))
                ++start;
        }
        auto u16 = [bytes](Uint32 at) { return Uint32(bytes[at]) << 8 | bytes[at + 1]; };
        auto u32 = [bytes](Uint32 at) {
            return Uint32(bytes[at]) << 24 | Uint32(bytes[at + 1]) << 16 | Uint32(bytes[at + 2]) << 8 | bytes[at + 3];
        };
        // SOC, SIZ marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz: 42 bytes.
        if (start + 42 > length || u16(start + 2) != 0xFF51)
            return failTag(err, MN_ERR_CORRUPT, DCM_PixelData, "JPEG 2000 fragment %lu has no SIZ marker", index);
        const Uint32 s = start + 4;
        const Uint32 width = u32(s + 4) - std::min(u32(s + 4), u32(s + 12));
        const Uint32 height = u32(s + 8) - std::min(u32(s + 8), u32(s + 16));
        const Uint32 components = u16(s + 36);
        if (width != info.columns || height != info.rows || components != info.samples_per_pixel)
            return failTag(err, MN_ERR_CORRUPT, DCM_PixelData,
                           "JPEG 2000 codestream %lu is %u × %u with %u components; the header says %u × %u with %u",
                           index, width, height, components, info.columns, info.rows, info.samples_per_pixel);
        if (s + 38 + 3 * components > length)
            return failTag(err, MN_ERR_CORRUPT, DCM_PixelData, "JPEG 2000 fragment %lu: SIZ marker is truncated",
                           index);
        for (Uint32 c = 0; c < components; ++c) {
            const unsigned precision = (bytes[s + 38 + 3 * c] & 0x7F) + 1u;
            if (precision > info.bits_allocated)
                return failTag(err, MN_ERR_CORRUPT, DCM_PixelData,
                               "JPEG 2000 codestream %lu has %u-bit samples; Bits Allocated is %u", index, precision,
                               info.bits_allocated);
        }
        ++codestreams;
    }
    if (codestreams == 0)
        return failTag(err, MN_ERR_CORRUPT, DCM_PixelData, "(7FE0,0010) Pixel Data holds no JPEG 2000 codestream");
    // One frame: GDCM decodes all fragments as one buffer; several: each fragment on its own.
    const unsigned long fragments = sequence->card() - 1;
    if (info.number_of_frames > 1 ? endMarkers < fragments : endMarkers == 0)
        return failTag(err, MN_ERR_CORRUPT, DCM_PixelData,
                       "JPEG 2000 codestream without an EOC marker (ISO/IEC 15444-1 A.4.4)");
    return MN_OK;
}

/// A file for GDCM holding only the SOP identity, the Image Pixel module written afresh from the
/// values DCMTK parsed and we checked (`info`), and the encapsulated Pixel Data of `item`, written
/// by DCMTK. GDCM's parser asserts (Debian keeps assertions: the process aborts) on encodings DCMTK
/// reads leniently: a malformed File Meta Information element, a Number of Frames IS value it cannot
/// take (found by Scripts/fuzz dataset, regression inputs crash-gdcm-meta-assert and
/// crash-gdcm-number-of-frames in Tests/Fixtures/fuzz/dataset/). So GDCM never parses a received
/// file, only this well-formed extract. Removed by the caller.
mn_status writeCleanCopy(DcmItem *item, const mn_pixel_info &info, E_TransferSyntax xfer, std::string &path,
                         mn_error *err) {
    DcmFileFormat clean;
    DcmDataset *out = clean.getDataset();
    for (const DcmTagKey &key : {DCM_SOPClassUID, DCM_SOPInstanceUID, DCM_PixelData}) {
        DcmElement *element = nullptr;
        if (item->findAndGetElement(key, element).bad() || !element) continue;
        if (out->insert(OFstatic_cast(DcmElement *, element->clone()), true).bad())
            return fail(err, MN_ERR_INTERNAL, "cannot copy (%04X,%04X) for JPEG 2000 decoding", key.getGroup(),
                        key.getElement());
    }
    const std::pair<DcmTagKey, uint32_t> numbers[] = {{DCM_SamplesPerPixel, info.samples_per_pixel},
                                                      {DCM_Rows, info.rows},
                                                      {DCM_Columns, info.columns},
                                                      {DCM_BitsAllocated, info.bits_allocated},
                                                      {DCM_BitsStored, info.bits_stored},
                                                      {DCM_HighBit, info.high_bit},
                                                      {DCM_PixelRepresentation, info.pixel_representation}};
    bool ok = true;
    for (const auto &[key, value] : numbers) ok = ok && out->putAndInsertUint16(key, Uint16(value)).good();
    if (info.samples_per_pixel > 1)
        ok = ok && out->putAndInsertUint16(DCM_PlanarConfiguration, Uint16(info.planar_configuration)).good();
    ok = ok && out->putAndInsertString(DCM_PhotometricInterpretation, info.photometric).good();
    ok = ok && out->putAndInsertString(DCM_NumberOfFrames, std::to_string(info.number_of_frames).c_str()).good();
    if (!ok) return fail(err, MN_ERR_INTERNAL, "cannot write the Image Pixel module for JPEG 2000 decoding");
    const char *directory = std::getenv("TMPDIR");
    std::string name = std::string(directory && *directory ? directory : "/tmp") + "/mambanode-j2k-XXXXXX";
    const int fd = mkstemp(name.data());
    if (fd < 0)
        return fail(err, MN_ERR_IO, "cannot create a temporary file for JPEG 2000 decoding: %s", std::strerror(errno));
    close(fd);
    path = name;
    OFCondition cond = clean.saveFile(name.c_str(), xfer);
    if (cond.bad()) return failCondition(err, cond, "cannot write the JPEG 2000 extract");
    return MN_OK;
}

/// Decodes the whole file with GDCM once (JPEG 2000) and keeps the native frames on the root.
mn_status decodeWithGdcm(mn_dataset *ds, const mn_pixel_info &info, mn_error *err) {
    if (ds->root->decoded) return MN_OK;
    if (mn_status s = checkForGdcm(ds->root->file.getDataset(), err)) return s;
    DcmElement *element = nullptr;
    if (ds->root->file.getDataset()->findAndGetElement(DCM_PixelData, element).bad() || !element)
        return failTag(err, MN_ERR_MISSING_TAG, DCM_PixelData, "missing (7FE0,0010) Pixel Data");
    auto *pixelData = OFdynamic_cast(DcmPixelData *, element);
    if (!pixelData) return failTag(err, MN_ERR_BAD_VALUE, DCM_PixelData, "(7FE0,0010) Pixel Data is not pixel data");
    const E_TransferSyntax xfer = ds->root->file.getDataset()->getOriginalXfer();
    if (mn_status s = checkJPEG2000Fragments(pixelData, xfer, info, err)) return s;
    std::string extract;
    struct Remove {
        std::string &path;
        ~Remove() {
            if (!path.empty()) std::remove(path.c_str());
        }
    } remove{extract};
    if (mn_status s = writeCleanCopy(ds->root->file.getDataset(), info, xfer, extract, err)) return s;
    gdcm::ImageReader reader;
    reader.SetFileName(extract.c_str());
    if (!reader.Read()) return fail(err, MN_ERR_CORRUPT, "GDCM cannot read the JPEG 2000 image");
    const gdcm::Image &image = reader.GetImage();
    const unsigned long length = image.GetBufferLength();
    const size_t expected =
        size_t(info.rows) * info.columns * info.samples_per_pixel * (info.bits_allocated / 8) * info.number_of_frames;
    if (length < expected)
        return fail(err, MN_ERR_CORRUPT, "JPEG 2000 decoded to %lu bytes, expected %zu", length, expected);
    if (image.GetPixelFormat().GetBitsAllocated() != info.bits_allocated)
        return fail(err, MN_ERR_UNSUPPORTED, "JPEG 2000 decoded to %u bits allocated, header says %u",
                    unsigned(image.GetPixelFormat().GetBitsAllocated()), info.bits_allocated);
    ds->root->gdcmPixels.resize(length);
    if (!image.GetBuffer(reinterpret_cast<char *>(ds->root->gdcmPixels.data())))
        return fail(err, MN_ERR_CORRUPT, "GDCM failed to decode the JPEG 2000 frames");
    ds->root->decodedPlanar = image.GetPlanarConfiguration();
    ds->root->usesGdcm = true;
    ds->root->decoded = true;
    return MN_OK;
}

} // namespace

extern "C" mn_status mn_dataset_decode_frame(mn_dataset *ds, uint32_t frame, int32_t *out, size_t capacity,
                                             mn_error *err) {
    MN_GUARD(err, {
        if (!ds || !out) return fail(err, MN_ERR_ARGUMENT, "mn_dataset_decode_frame: NULL argument");
        if (ds->root->headerOnly) return fail(err, MN_ERR_ARGUMENT, "dataset was read without pixel data");
        mn_pixel_info info;
        if (mn_status s = mn_dataset_pixel_info(ds, &info, err)) return s;
        if (frame >= info.number_of_frames)
            return fail(err, MN_ERR_ARGUMENT, "frame %u out of range (%u frames)", frame + 1, info.number_of_frames);
        if (info.bits_allocated == 1)
            return failTag(err, MN_ERR_UNSUPPORTED, DCM_BitsAllocated,
                           "(0028,0100) Bits Allocated 1 (bit-packed frames) is not decoded");
        const size_t samples = size_t(info.rows) * info.columns * info.samples_per_pixel;
        if (capacity < samples)
            return fail(err, MN_ERR_ARGUMENT, "buffer holds %zu samples, frame has %zu", capacity, samples);
        const size_t frameBytes = samples * (info.bits_allocated / 8);

        DcmElement *element = nullptr;
        if (ds->item->findAndGetElement(DCM_PixelData, element).bad() || !element)
            return failTag(err, MN_ERR_MISSING_TAG, DCM_PixelData, "missing (7FE0,0010) Pixel Data");
        auto *pixelData = OFdynamic_cast(DcmPixelData *, element);
        if (!pixelData)
            return failTag(err, MN_ERR_BAD_VALUE, DCM_PixelData, "(7FE0,0010) Pixel Data is not pixel data");

        const E_TransferSyntax xfer = ds->root->file.getDataset()->getOriginalXfer();
        std::vector<uint8_t> buffer;
        const uint8_t *raw = nullptr;
        uint32_t planar = info.planar_configuration;
        if (isJPEG2000(xfer)) {
            if (mn_status s = decodeWithGdcm(ds, info, err)) return s;
            raw = ds->root->gdcmPixels.data() + size_t(frame) * frameBytes;
            planar = ds->root->decodedPlanar;
        } else {
            if (DcmXfer(xfer).isEncapsulated()) {
                // Every supported compressed syntax is decoded by a registered DCMTK codec.
                if (!DcmXfer(xfer).isEncapsulated() || xfer == EXS_Unknown)
                    return fail(err, MN_ERR_UNSUPPORTED, "transfer syntax not supported");
            }
            if (xfer == EXS_RLELossless)
                if (mn_status s = checkRLEFragments(pixelData, xfer, err)) return s;
            Uint32 frameSize = 0;
            OFCondition cond = pixelData->getUncompressedFrameSize(ds->item, frameSize);
            if (cond.bad()) return failCondition(err, cond, "cannot size frame");
            if (frameSize < frameBytes)
                return fail(err, MN_ERR_CORRUPT, "frame size %u is smaller than %zu", frameSize, frameBytes);
            if (!DcmXfer(xfer).isEncapsulated()) {
                const Uint32 length = pixelData->getLength(xfer);
                if (size_t(length) < frameBytes * info.number_of_frames)
                    return failTag(err, MN_ERR_CORRUPT, DCM_PixelData,
                                   "(7FE0,0010) Pixel Data holds %u bytes, %u frame(s) of %zu bytes expected", length,
                                   info.number_of_frames, frameBytes);
            }
            buffer.resize(frameSize + (frameSize & 1));
            Uint32 startFragment = 0;
            OFString colorModel;
            cond = pixelData->getUncompressedFrame(ds->item, frame, startFragment, buffer.data(), Uint32(buffer.size()),
                                                   colorModel);
            if (cond.bad()) {
                if (cond == EC_CannotChangeRepresentation)
                    return fail(err, MN_ERR_UNSUPPORTED, "no decoder for transfer syntax %s",
                                DcmXfer(xfer).getXferName());
                return fail(err, MN_ERR_CORRUPT, "cannot decode frame %u (%s): %s", frame + 1,
                            DcmXfer(xfer).getXferName(), cond.text());
            }
            raw = buffer.data();
            // DCMTK's RLE decoder returns colour-by-plane frames (PS3.5 Annex G.2).
            if (xfer == EXS_RLELossless) planar = 1;
            // JPEG/JPEG-LS decoders return colour-by-pixel.
            else if (DcmXfer(xfer).isEncapsulated()) planar = 0;
        }

        switch (info.bits_allocated) {
        case 8:
            extract(raw, samples, info, out);
            break;
        case 16:
            extract(reinterpret_cast<const uint16_t *>(raw), samples, info, out);
            break;
        default:
            extract(reinterpret_cast<const uint32_t *>(raw), samples, info, out);
            break;
        }
        if (info.samples_per_pixel > 1 && planar == 1)
            interleave(out, size_t(info.rows) * info.columns, info.samples_per_pixel);
        return MN_OK;
    })
}
