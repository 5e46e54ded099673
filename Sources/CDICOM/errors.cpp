#include "shim_internal.h"

#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmjpls/djencode.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/oflog/oflog.h"

#include <cstdlib>
#include <mutex>

namespace mn {

static void vfill(mn_error *err, mn_status code, bool hasTag, uint32_t tag, const char *format, va_list args) {
    if (!err) return;
    err->code = code;
    err->has_tag = hasTag ? 1 : 0;
    err->tag = tag;
    vsnprintf(err->message, sizeof(err->message), format, args);
}

mn_status fail(mn_error *err, mn_status code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vfill(err, code, false, 0, format, args);
    va_end(args);
    return code;
}

mn_status failTag(mn_error *err, mn_status code, const DcmTagKey &tag, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vfill(err, code, true, tagValue(tag), format, args);
    va_end(args);
    return code;
}

mn_status statusFor(const OFCondition &cond) {
    if (cond.good()) return MN_OK;
    if (cond == EC_InvalidFilename || cond == EC_CouldNotCreateTemporaryFile) return MN_ERR_IO;
    if (cond == EC_IllegalCall || cond == EC_IllegalParameter) return MN_ERR_ARGUMENT;
    if (cond == EC_TagNotFound) return MN_ERR_MISSING_TAG;
    if (cond == EC_InvalidValue || cond == EC_InvalidVR || cond == EC_ValueRepresentationViolated ||
        cond == EC_ValueMultiplicityViolated || cond == EC_MaximumLengthViolated)
        return MN_ERR_BAD_VALUE;
    if (cond == EC_CannotChangeRepresentation || cond == EC_UnsupportedEncoding) return MN_ERR_UNSUPPORTED;
    if (cond == EC_StreamNotifyClient || cond == EC_InvalidStream || cond == EC_SequEnd || cond == EC_CorruptedData ||
        cond == EC_ItemEnd || cond == EC_PrematureSequDelimitationItem || cond == EC_SequDelimitationItemMissing)
        return MN_ERR_CORRUPT;
    // Network conditions by module only: their particular codes (refused, timeout, TLS) are
    // told apart by networkStatusFor (CDICOMNetwork), so that this library needs no dcmnet.
    if (cond.module() == OFM_dcmtls) return MN_ERR_TLS;
    if (cond.module() == OFM_dcmnet) return MN_ERR_NETWORK;
    if (cond.module() == OFM_dcmjpeg || cond.module() == OFM_dcmjpls) return MN_ERR_CORRUPT;
    return MN_ERR_INTERNAL;
}

mn_status failCondition(mn_error *err, const OFCondition &cond, const char *context) {
    return fail(err, statusFor(cond), "%s: %s", context, cond.text());
}

char *dupString(const std::string &s) {
    char *out = static_cast<char *>(std::malloc(s.size() + 1));
    if (!out) throw std::bad_alloc();
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = '\0';
    return out;
}

} // namespace mn

extern "C" void mn_string_free(char *s) { std::free(s); }

extern "C" void mn_initialize(int32_t log_level) {
    static std::once_flag codecs;
    std::call_once(codecs, [] {
        DJDecoderRegistration::registerCodecs();
        DJEncoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DJLSEncoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
        DcmRLEEncoderRegistration::registerCodecs();
        // A known tag received as UN in explicit VR (archives and forwarders that do not know it
        // re-encode it so) is read with the data dictionary's VR, as PS3.5 6.2.2 allows; files
        // are stored as received, only what is read from them changes.
        dcmEnableUnknownVRConversion.set(OFTrue);
    });
    OFLogger::LogLevel level = OFLogger::FATAL_LOG_LEVEL;
    if (log_level == 1) level = OFLogger::ERROR_LOG_LEVEL;
    else if (log_level == 2) level = OFLogger::WARN_LOG_LEVEL;
    else if (log_level == 3) level = OFLogger::INFO_LOG_LEVEL;
    else if (log_level >= 4) level = OFLogger::DEBUG_LOG_LEVEL;
    OFLog::configure(level);
}
