#include "network_internal.h"

#include "dcmtk/dcmnet/diutil.h"

namespace mn {

mn_status networkStatusFor(const OFCondition &cond) {
    // A failed TLS handshake reaches us as dcmnet's DUL "TLS error" or as one of dcmtls' own codes.
    if (cond.module() == OFM_dcmtls || (cond.module() == OFM_dcmnet && cond.code() == DULC_TLSERROR)) return MN_ERR_TLS;
    if (cond.module() == OFM_dcmnet) {
        if (cond == DUL_ASSOCIATIONREJECTED || cond == NET_EC_NoAcceptablePresentationContexts) return MN_ERR_REFUSED;
        if (cond == DUL_READTIMEOUT || cond == DIMSE_NODATAAVAILABLE) return MN_ERR_TIMEOUT;
        return MN_ERR_NETWORK;
    }
    return statusFor(cond);
}

mn_status failNetworkCondition(mn_error *err, const OFCondition &cond, const char *context) {
    return fail(err, networkStatusFor(cond), "%s: %s", context, cond.text());
}

} // namespace mn
