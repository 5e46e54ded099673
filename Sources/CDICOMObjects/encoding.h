// Helpers shared by the SEG and SR encoders (segmentation.cpp, report.cpp). Never included by Swift.
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

/// The request's optional strings: NULL becomes empty.
inline std::string orEmpty(const char *s) { return s ? std::string(s) : std::string(); }

} // namespace mn

#endif
