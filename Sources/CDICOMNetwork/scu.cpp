// Storage SCU: DcmStorageSCU sending files, one result per file; and C-ECHO.
//
// DcmStorageSCU keeps its transfer list private, so per-file outcomes are collected through its
// notification hooks. It processes the list strictly in order, once per entry, which lets us map
// each notification to the next file we added (checked against the file name).
#include "network_internal.h"

#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/dstorscu.h"
#include "dcmtk/dcmnet/scu.h"

#include <cstdlib>
#include <string>
#include <vector>

namespace {

// DcmStorageSCU's private markers (dstorscu.cc) for entries it could not send; "pending" codes are
// never C-STORE response statuses (PS3.4 B.2.3), so they cannot be confused with a peer's answer.
constexpr Uint16 kNoPresentationContext = 0xFFFF;

struct FileOutcome {
    std::string path;
    std::string sopClass, sopInstance, transferSyntax;
    bool haveUIDs = false;
    bool sent = false;
    bool decided = false;
    uint16_t status = 0;
    mn_status error = MN_OK;
    std::string detail;
};

void configure(DcmSCU &scu, const mn_scu_config &config) {
    scu.setAETitle(config.calling_ae);
    scu.setPeerAETitle(config.called_ae);
    scu.setPeerHostName(config.host);
    scu.setPeerPort(config.port);
    if (config.max_pdu) scu.setMaxReceivePDULength(config.max_pdu);
    if (config.connect_timeout_s) scu.setConnectionTimeout(static_cast<Sint32>(config.connect_timeout_s));
    if (config.acse_timeout_s) scu.setACSETimeout(config.acse_timeout_s);
    if (config.dimse_timeout_s) {
        scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        scu.setDIMSETimeout(config.dimse_timeout_s);
    }
    scu.setProgressNotificationMode(OFFalse);
}

/// Makes the TLS layer when the configuration asks for TLS; it must outlive the associations.
mn_status makeLayer(const mn_scu_config &config, std::unique_ptr<DcmTransportLayer> &layer, mn_error *err) {
    if (!config.tls) return MN_OK;
    mn_status status = MN_OK;
    const char *name = config.tls_server_name && *config.tls_server_name ? config.tls_server_name : config.host;
    layer = mn::makeTLSLayer(*config.tls, false, config.tls->verify_peer ? name : nullptr, status, err);
    mn::takeTLSFailure(); // forget a failure of an earlier association on this thread
    return layer ? MN_OK : status;
}

/// initNetwork, then TLS on the new network when `layer` is set (DcmSCU::useSecureConnection
/// sets the layer on the network initNetwork makes, so it has to follow it; it is protected,
/// so SCU is one of our subclasses that publishes it).
template <typename SCU> OFCondition initNetwork(SCU &scu, DcmTransportLayer *layer) {
    OFCondition cond = scu.initNetwork();
    if (cond.good() && layer) cond = scu.useSecureConnection(layer);
    return cond;
}

/// The association's error, with the TLS handshake's reason when that is what failed.
mn_status failAssociation(mn_error *err, const OFCondition &cond, const std::string &context) {
    const std::string tls = mn::takeTLSFailure();
    if (tls.empty()) return mn::failNetworkCondition(err, cond, context.c_str());
    return mn::fail(err, MN_ERR_TLS, "%s: %s", context.c_str(), tls.substr(tls.find('\t') + 1).c_str());
}

mn_status checkConfig(const mn_scu_config *config, mn_error *err) {
    if (!config || !config->calling_ae || !config->called_ae || !config->host)
        return mn::fail(err, MN_ERR_ARGUMENT, "SCU configuration lacks AE titles or host");
    if (config->port == 0) return mn::fail(err, MN_ERR_ARGUMENT, "SCU configuration has port 0");
    return MN_OK;
}

/// "STORESCP@host:port", the way errors name an association.
std::string peerName(const mn_scu_config &config) {
    return std::string(config.called_ae) + "@" + config.host + ":" + std::to_string(config.port);
}

/// DcmSCU for C-ECHO, with TLS reachable.
class EchoSCU : public DcmSCU {
public:
    using DcmSCU::useSecureConnection;
};

class CollectingSCU : public DcmStorageSCU {
public:
    explicit CollectingSCU(std::vector<FileOutcome> &outcomes) : outcomes_(outcomes) {}
    using DcmSCU::useSecureConnection;

    /// Index into outcomes of each file in DCMTK's transfer list, in list order.
    std::vector<size_t> queued;

    OFCondition negotiateAssociation() override {
        const size_t before = getNumberOfSOPInstancesToBeSent();
        OFCondition cond = DcmStorageSCU::negotiateAssociation();
        if (cond == NET_EC_NoAcceptablePresentationContexts) {
            // DcmStorageSCU marks the entries proposed on this association as handled without
            // notifying us; they are the next ones in list order.
            const size_t after = getNumberOfSOPInstancesToBeSent();
            for (size_t n = before - after; n > 0 && cursor_ < queued.size(); --n) {
                FileOutcome &o = outcomes_[queued[cursor_++]];
                o.decided = true;
                o.error = MN_ERR_NOT_ACCEPTED;
                o.detail = "the peer accepted no presentation context for SOP class " + o.sopClass +
                           " in transfer syntax " + o.transferSyntax;
            }
        }
        return cond;
    }

    /// Entries not reached (association failure): mark them with the reason.
    void markRemaining(mn_status code, const std::string &why) {
        for (; cursor_ < queued.size(); ++cursor_) {
            FileOutcome &o = outcomes_[queued[cursor_]];
            if (o.decided) continue;
            o.decided = true;
            o.error = code;
            o.detail = why;
        }
    }

protected:
    void notifySOPInstanceSent(const TransferEntry &entry) override {
        size_t index = cursor_ < queued.size() ? queued[cursor_] : outcomes_.size();
        if (index == outcomes_.size() || outcomes_[index].path != entry.Filename.getCharPointer()) {
            // Not the expected order (should not happen): find the first undecided entry by name.
            index = outcomes_.size();
            for (size_t i : queued)
                if (!outcomes_[i].decided && outcomes_[i].path == entry.Filename.getCharPointer()) {
                    index = i;
                    break;
                }
            if (index == outcomes_.size()) return;
        } else {
            ++cursor_;
        }
        FileOutcome &o = outcomes_[index];
        o.decided = true;
        if (!entry.RequestSent) {
            o.error = MN_ERR_IO;
            o.detail = "the C-STORE request could not be sent (file unreadable, conversion or network failure)";
        } else if (entry.ResponseStatusCode == kNoPresentationContext) {
            o.error = MN_ERR_NOT_ACCEPTED;
            o.detail = "the peer accepted no presentation context for SOP class " + o.sopClass +
                       " in transfer syntax " + o.transferSyntax +
                       " and the instance cannot be converted to one it accepted";
        } else {
            o.sent = true;
            o.status = entry.ResponseStatusCode;
            o.transferSyntax = DcmXfer(entry.NetworkTransferSyntax).getXferID();
        }
    }

private:
    std::vector<FileOutcome> &outcomes_;
    size_t cursor_ = 0;
};

bool hasPart10Magic(const std::string &path) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    char header[132];
    const bool magic =
        std::fread(header, 1, sizeof(header), f) == sizeof(header) && std::memcmp(header + 128, "DICM", 4) == 0;
    std::fclose(f);
    return magic;
}

mn_scu_result *exportResults(const std::vector<FileOutcome> &outcomes) {
    auto *results =
        static_cast<mn_scu_result *>(std::calloc(outcomes.size() ? outcomes.size() : 1, sizeof(mn_scu_result)));
    if (!results) throw std::bad_alloc();
    for (size_t i = 0; i < outcomes.size(); ++i) {
        const FileOutcome &o = outcomes[i];
        mn_scu_result &r = results[i];
        r.path = mn::dupString(o.path);
        if (o.haveUIDs) {
            r.sop_class_uid = mn::dupString(o.sopClass);
            r.sop_instance_uid = mn::dupString(o.sopInstance);
        }
        if (o.sent) r.transfer_syntax_uid = mn::dupString(o.transferSyntax);
        r.dimse_status = o.status;
        r.sent = o.sent ? 1 : 0;
        r.error_code = o.sent ? MN_OK : (o.error == MN_OK ? MN_ERR_NETWORK : o.error);
        if (!o.detail.empty()) r.detail = mn::dupString(o.detail);
        else if (!o.sent) r.detail = mn::dupString("not sent");
    }
    return results;
}

} // namespace

static mn_status send(const mn_scu_config *config, const char *const *paths, size_t path_count, mn_scu_result **results,
                      size_t *result_count, mn_error *err) {
    if (mn_status s = checkConfig(config, err)) return s;
    if (!results || !result_count || (path_count > 0 && !paths))
        return mn::fail(err, MN_ERR_ARGUMENT, "mn_scu_send: NULL output or path list");
    *results = nullptr;
    *result_count = 0;

    std::vector<FileOutcome> outcomes(path_count);
    std::unique_ptr<DcmTransportLayer> tls; // declared first: it must outlive the SCU's association
    CollectingSCU scu(outcomes);
    configure(scu, *config);
    if (mn_status s = makeLayer(*config, tls, err)) {
        for (size_t i = 0; i < path_count; ++i) {
            outcomes[i].path = paths[i] ? paths[i] : "";
            outcomes[i].decided = true;
            outcomes[i].error = s;
            outcomes[i].detail = std::string("not sent: ") + (err ? err->message : "TLS setup failed");
        }
        *results = exportResults(outcomes);
        *result_count = outcomes.size();
        return s;
    }
    // Without this DcmSCU refuses to change a data set's transfer syntax for the network.
    scu.setDatasetConversionMode(config->decompression != MN_SCU_DECOMPRESS_NEVER);
    switch (config->decompression) {
    case MN_SCU_DECOMPRESS_NEVER:
        scu.setDecompressionMode(DcmStorageSCU::DM_never);
        break;
    case MN_SCU_DECOMPRESS_ALL:
        scu.setDecompressionMode(DcmStorageSCU::DM_lossyAndLossless);
        break;
    default:
        scu.setDecompressionMode(DcmStorageSCU::DM_losslessOnly);
        break;
    }
    // Keep going past a bad file or a failed C-STORE: every file gets its own outcome.
    scu.setHaltOnInvalidFileMode(OFFalse);
    scu.setHaltOnUnsuccessfulStoreMode(OFFalse);

    for (size_t i = 0; i < path_count; ++i) {
        FileOutcome &o = outcomes[i];
        o.path = paths[i] ? paths[i] : "";
        // Read the meta header ourselves for the UIDs the result reports; DCMTK reads it again.
        DcmFileFormat file;
        OFCondition cond = file.loadFileUntilTag(o.path.c_str(), EXS_Unknown, EGL_noChange, 256, ERM_fileOnly,
                                                 DcmTagKey(0x0002, 0x0011));
        OFString sopClass, sopInstance, xfer;
        if (cond.good()) {
            DcmMetaInfo *meta = file.getMetaInfo();
            meta->findAndGetOFString(DCM_MediaStorageSOPClassUID, sopClass);
            meta->findAndGetOFString(DCM_MediaStorageSOPInstanceUID, sopInstance);
            meta->findAndGetOFString(DCM_TransferSyntaxUID, xfer);
            o.sopClass = sopClass.c_str();
            o.sopInstance = sopInstance.c_str();
            o.transferSyntax = xfer.c_str();
            o.haveUIDs = !sopInstance.empty();
            cond = scu.addDicomFile(o.path.c_str(), ERM_fileOnly, OFTrue);
        }
        if (cond.bad()) {
            o.decided = true;
            if (!OFStandard::fileExists(o.path.c_str())) {
                o.error = MN_ERR_IO;
                o.detail = "not sent: no such file";
            } else {
                // PS3.10 7.1: a Part 10 file has "DICM" after a 128-byte preamble.
                o.error = hasPart10Magic(o.path) ? mn::networkStatusFor(cond) : MN_ERR_NOT_DICOM;
                o.detail = std::string("not sent: ") + cond.text();
            }
            continue;
        }
        scu.queued.push_back(i);
    }

    mn_status result = MN_OK;
    OFCondition cond;
    while (!scu.queued.empty() && (cond = scu.addPresentationContexts()).good()) {
        cond = initNetwork(scu, tls.get());
        if (cond.bad()) break;
        cond = scu.negotiateAssociation();
        if (cond == NET_EC_NoAcceptablePresentationContexts) continue; // try the next batch
        if (cond.bad()) break;
        cond = scu.sendSOPInstances();
        if (cond.bad()) {
            if (cond == DUL_PEERABORTEDASSOCIATION) scu.closeAssociation(DCMSCU_PEER_ABORTED_ASSOCIATION);
            else if (cond == DUL_PEERREQUESTEDRELEASE) scu.closeAssociation(DCMSCU_PEER_REQUESTED_RELEASE);
            else scu.abortAssociation();
            break;
        }
        scu.releaseAssociation();
    }
    if (cond.bad() && cond != NET_EC_NoPresentationContextsDefined) {
        const std::string context = "association with " + peerName(*config);
        result = failAssociation(err, cond, context);
        scu.markRemaining(result, err ? std::string(err->message) : context + ": " + cond.text());
    } else {
        scu.markRemaining(MN_ERR_NETWORK, "not sent");
    }
    *results = exportResults(outcomes);
    *result_count = outcomes.size();
    return result;
}

extern "C" mn_status mn_scu_send(const mn_scu_config *config, const char *const *paths, size_t path_count,
                                 mn_scu_result **results, size_t *result_count, mn_error *err) {
    MN_GUARD(err, { return send(config, paths, path_count, results, result_count, err); })
}

extern "C" void mn_scu_results_free(mn_scu_result *results, size_t count) {
    if (!results) return;
    for (size_t i = 0; i < count; ++i) {
        std::free(results[i].path);
        std::free(results[i].sop_class_uid);
        std::free(results[i].sop_instance_uid);
        std::free(results[i].transfer_syntax_uid);
        std::free(results[i].detail);
    }
    std::free(results);
}

static mn_status echo(const mn_scu_config *config, mn_error *err) {
    if (mn_status s = checkConfig(config, err)) return s;
    std::unique_ptr<DcmTransportLayer> tls; // declared first: it must outlive the SCU's association
    EchoSCU scu;
    configure(scu, *config);
    if (mn_status s = makeLayer(*config, tls, err)) return s;
    OFList<OFString> syntaxes;
    syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
    syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
    scu.addPresentationContext(UID_VerificationSOPClass, syntaxes);
    const std::string context = "C-ECHO with " + peerName(*config);
    OFCondition cond = initNetwork(scu, tls.get());
    if (cond.good()) cond = scu.negotiateAssociation();
    if (cond.bad()) return failAssociation(err, cond, context);
    cond = scu.sendECHORequest(0);
    if (cond.bad()) {
        scu.abortAssociation();
        return mn::failNetworkCondition(err, cond, context.c_str());
    }
    scu.releaseAssociation();
    return MN_OK;
}

extern "C" mn_status mn_scu_echo(const mn_scu_config *config, mn_error *err) {
    MN_GUARD(err, { return echo(config, err); })
}
