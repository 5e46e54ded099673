// Internal helpers of the networking shim (scp.cpp, scu.cpp, stream.cpp, tls.cpp). Never included by Swift.
#ifndef MAMBANODE_SHIM_NETWORK_INTERNAL_H
#define MAMBANODE_SHIM_NETWORK_INTERNAL_H

#include "shim_internal.h"

#include "dcmtk/dcmnet/dcmlayer.h"

#include "cdicom_network.h"

namespace mn {

/// statusFor, telling dcmnet's conditions apart: association refused, timeouts, TLS failures.
mn_status networkStatusFor(const OFCondition &cond);

/// failCondition with networkStatusFor.
mn_status failNetworkCondition(mn_error *err, const OFCondition &cond, const char *context);

/// A dcmtls transport layer for an SCP (`acceptor`) or an SCU (tls.cpp): BCP 195 non-downgrading
/// profile, certificate and key (key file mode checked), CA bundle, peer verification, and for an
/// SCU the name the peer's certificate must carry. nullptr with `status` and `err` set on failure.
std::unique_ptr<DcmTransportLayer> makeTLSLayer(const mn_tls_config &config, bool acceptor, const char *verifyName,
                                                mn_status &status, mn_error *err);

/// Why the last TLS handshake on this thread failed, as "PEER\tREASON" (PEER may be empty); ""
/// when none failed since the last call. Clears it.
std::string takeTLSFailure();

/// Calls `handler(peer, reason)` for every failed server-side handshake on this thread (the SCP's
/// listener thread, where DCMTK runs them); an empty function removes it.
void onServerHandshakeFailure(std::function<void(const std::string &, const std::string &)> handler);

} // namespace mn

#endif
