// Internal helpers shared by the shim's translation units (CDICOM and the targets that build on
// it). Never included by Swift: module.modulemap exports only cdicom.h.
#ifndef MAMBANODE_SHIM_INTERNAL_H
#define MAMBANODE_SHIM_INTERNAL_H

#include "dcmtk/config/osconfig.h" /* must come first (DCMTK) */
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/ofstd/ofcond.h"

#include "cdicom.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>

namespace mn {

/// Fill `err` (when non-NULL) and return `code`. The message is printf-formatted and truncated.
mn_status fail(mn_error *err, mn_status code, const char *format, ...) __attribute__((format(printf, 3, 4)));

/// Same, naming the offending tag.
mn_status failTag(mn_error *err, mn_status code, const DcmTagKey &tag, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/// The single place where DCMTK's OFCondition becomes a shim status (docs/style-guide.md §2).
mn_status statusFor(const OFCondition &cond);

/// Fill `err` from an OFCondition with a context prefix ("reading /path: ...").
mn_status failCondition(mn_error *err, const OFCondition &cond, const char *context);

/// malloc'd copy of a std::string, for `char **` out parameters (freed with mn_string_free).
char *dupString(const std::string &s);

inline DcmTagKey tagKey(uint32_t tag) {
    return DcmTagKey(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
}
inline uint32_t tagValue(const DcmTagKey &k) { return (uint32_t(k.getGroup()) << 16) | k.getElement(); }

} // namespace mn

/// Wrap a shim body so that no C++ exception crosses into Swift.
#define MN_GUARD(err, body)                                                                                            \
    try {                                                                                                              \
        body                                                                                                           \
    } catch (const std::bad_alloc &) {                                                                                 \
        return mn::fail((err), MN_ERR_INTERNAL, "out of memory");                                                      \
    } catch (const std::exception &e) {                                                                                \
        return mn::fail((err), MN_ERR_INTERNAL, "internal error: %s", e.what());                                       \
    } catch (...) {                                                                                                    \
        return mn::fail((err), MN_ERR_INTERNAL, "internal error: unknown C++ exception");                              \
    }

#endif
