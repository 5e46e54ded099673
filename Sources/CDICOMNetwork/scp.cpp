// Storage SCP: a listener that accepts connections with DCMTK's ASC_receiveAssociation and runs
// each association on a thread of its own, in a DcmThreadSCP that streams each C-STORE data set to
// a temporary file and asks the Swift callback for the DIMSE status before responding.
//
// Policy (UID validation, naming, fsync, duplicates) lives in Swift; this file only translates
// DCMTK's association life cycle into mn_scp_event callbacks and C-STOREs into mn_scp_instance
// callbacks.
//
// Why not DCMTK's DcmSCPPool: in DCMTK 3.6.7 a pool worker deletes itself when its association
// ends (DcmBaseSCPPool::notifyThreadExit), while the listener may still be inside
// OFThread::start(), which stores the new thread's id into the worker after pthread_create has
// returned. An association that ends at once (a TCP connection closed before any PDU: a load
// balancer's health check, a port scan) wins that race often enough to write into freed memory
// ("malloc(): unsorted double linked list corrupted"). The pool also hands such a connection to a
// worker as if it were an association request, and never joins its threads. Here the listener
// owns every worker thread and joins it; the DcmThreadSCP lives on that thread's stack, so nothing
// outlives the thread that uses it and nothing is freed by the thread it belongs to.
#include "network_internal.h"

#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/dcmnet/scpthrd.h"

#include <atomic>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

// Process-wide, so that association ids and temporary file names stay unique when a node runs a
// plain and a TLS listener side by side over one store.
std::atomic<uint64_t> g_nextAssociationID{1};
std::atomic<uint64_t> g_nextFileNumber{1};

} // namespace

struct mn_scp {
    std::string aeTitle;
    std::string tempDirectory;
    std::vector<std::string> allowedCallingAEs;
    bool acceptAnyCallingAE = false;
    mn_scp_instance_callback onInstance = nullptr;
    mn_scp_event_callback onEvent = nullptr;
    mn_scp_admission_callback onRequest = nullptr;
    void *context = nullptr;
    /// The listener's settings, shared (read-only) by every association's DcmThreadSCP.
    DcmSCPConfig config;
    size_t maxAssociations = 1;
    // Not owned by DCMTK's network (ASC_setTransportLayer); outlives every connection.
    std::unique_ptr<DcmTransportLayer> tls;
    // Set by mn_scp_stop: new associations are refused, and the listener returns once the
    // current ones have ended.
    std::atomic<bool> draining{false};

    /// One association being served. `finished` is set by its thread as its last act; the
    /// listener joins and removes the entry (threads never free themselves).
    struct Session {
        std::thread thread;
        bool finished = false;
    };
    std::mutex mutex; // guards running and sessions
    bool running = false;
    std::list<Session> sessions;

    void emit(mn_scp_event_kind kind, uint64_t association, const std::string &calling, const std::string &called,
              const std::string &peer, const std::string &message) const {
        if (!onEvent) return;
        mn_scp_event event{};
        event.kind = kind;
        event.association_id = association;
        event.calling_ae = calling.c_str();
        event.called_ae = called.c_str();
        event.peer_address = peer.c_str();
        event.message = message.c_str();
        onEvent(context, &event);
    }
};

namespace {

std::string trimmed(const std::string &s) {
    const size_t first = s.find_first_not_of(' ');
    if (first == std::string::npos) return "";
    return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

/// Transfer syntaxes accepted for every storage SOP class, in order of preference: DCMTK picks,
/// per proposed presentation context, the first of these the SCU offered. Compressed ones come
/// first so that an instance arrives as the modality encoded it (nothing is decompressed or
/// recompressed), then the uncompressed ones, deflate last because it costs CPU on both sides.
/// (Not const: DCMTK 3.6.7 takes `const char *[]`.)
const char *kStorageTransferSyntaxes[] = {
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
};

const char *kUncompressedTransferSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
};

const char *kVerificationSOPClass[] = {UID_VerificationSOPClass};

/// One association: negotiation checks, C-STORE to file, C-ECHO, life-cycle events.
class StorageWorker : public DcmThreadSCP {
public:
    explicit StorageWorker(mn_scp *owner) : owner_(owner) {}

protected:
    void notifyAssociationRequest(const T_ASC_Parameters &params, DcmSCPActionType &action) override {
        // DcmSCP keeps the association private; these are its (non-const) parameters.
        params_ = const_cast<T_ASC_Parameters *>(&params);
        association_ = g_nextAssociationID.fetch_add(1);
        calling_ = trimmed(params.DULparams.callingAPTitle);
        called_ = trimmed(params.DULparams.calledAPTitle);
        peer_ = params.DULparams.callingPresentationAddress;
        if (scp()->draining.load()) {
            refuseReason_ = "server is shutting down";
            refuseAs_ = DCMSCP_TOO_MANY_ASSOCIATIONS;
            action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
            return;
        }
        if (!scp()->onRequest) return;
        mn_scp_event request{};
        request.association_id = association_;
        request.calling_ae = calling_.c_str();
        request.called_ae = called_.c_str();
        request.peer_address = peer_.c_str();
        request.message = "";
        char reason[256] = "";
        const int32_t decision = scp()->onRequest(scp()->context, &request, reason, sizeof(reason));
        reason[sizeof(reason) - 1] = '\0';
        switch (decision) {
        case MN_SCP_ADMIT:
            return;
        // DcmSCP refuses with DCMSCP_INTERNAL_ERROR (permanent, no reason); refuseAssociation below
        // substitutes the reason whose A-ASSOCIATE-RJ fields PS3.8 9.3.4 asks for.
        case MN_SCP_REFUSE_RESOURCES:
            refuseAs_ = DCMSCP_TOO_MANY_ASSOCIATIONS;
            break;
        case MN_SCP_REFUSE_CALLING_AE:
            refuseAs_ = DCMSCP_CALLING_AE_TITLE_NOT_RECOGNIZED;
            break;
        default:
            refuseAs_ = DCMSCP_CALLING_HOST_NOT_ALLOWED;
            break;
        }
        refuseReason_ = *reason ? reason : "association refused";
        action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
    }

    OFBool checkCalledAETitleAccepted(const OFString &calledAE) override {
        return trimmed(calledAE.c_str()) == scp()->aeTitle;
    }

    OFBool checkCallingAETitleAccepted(const OFString &callingAE) override {
        if (scp()->acceptAnyCallingAE) return OFTrue;
        const std::string ae = trimmed(callingAE.c_str());
        for (const auto &allowed : scp()->allowedCallingAEs)
            if (allowed == ae) return OFTrue;
        return OFFalse;
    }

    void refuseAssociation(const DcmRefuseReasonType reason) override {
        std::string why = refuseReason_;
        if (why.empty()) {
            switch (reason) {
            case DCMSCP_CALLED_AE_TITLE_NOT_RECOGNIZED:
                why = "called AE title not recognized";
                break;
            case DCMSCP_CALLING_AE_TITLE_NOT_RECOGNIZED:
                why = "calling AE title not allowed";
                break;
            case DCMSCP_NO_PRESENTATION_CONTEXTS:
                why = "no acceptable presentation context";
                break;
            case DCMSCP_BAD_APPLICATION_CONTEXT_NAME:
                why = "unsupported application context";
                break;
            case DCMSCP_CALLING_HOST_NOT_ALLOWED:
                why = "calling host not allowed";
                break;
            default:
                why = "association refused";
                break;
            }
        }
        scp()->emit(MN_SCP_ASSOCIATION_REJECTED, association_, calling_, called_, peer_, why);
        // DCMTK 3.6.7 maps TOO_MANY_ASSOCIATIONS to rejected-transient / service-provider
        // (presentation) / local-limit-exceeded and CALLING_HOST_NOT_ALLOWED to rejected-permanent /
        // service-user / no-reason-given (PS3.8 9.3.4).
        DcmThreadSCP::refuseAssociation(refuseAs_ == DCMSCP_INTERNAL_ERROR ? reason : refuseAs_);
    }

    // DcmSCPConfig's association profiles hold at most 128 presentation contexts, fewer than the
    // storage SOP classes, so we accept contexts directly as DCMTK's storescp does.
    OFCondition negotiateAssociation() override {
        if (!params_) return ASC_NULLKEY;
        OFCondition cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
            params_, kVerificationSOPClass, 1, kUncompressedTransferSyntaxes,
            static_cast<int>(sizeof(kUncompressedTransferSyntaxes) / sizeof(kUncompressedTransferSyntaxes[0])));
        if (cond.good())
            cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
                params_, dcmAllStorageSOPClassUIDs, numberOfDcmAllStorageSOPClassUIDs, kStorageTransferSyntaxes,
                static_cast<int>(sizeof(kStorageTransferSyntaxes) / sizeof(kStorageTransferSyntaxes[0])));
        return cond;
    }

    void notifyAssociationAcknowledge() override {
        scp()->emit(MN_SCP_ASSOCIATION_ACCEPTED, association_, calling_, called_, peer_, "");
    }
    void notifyReleaseRequest() override {
        scp()->emit(MN_SCP_ASSOCIATION_RELEASED, association_, calling_, called_, peer_, "");
    }
    void notifyAbortRequest() override {
        scp()->emit(MN_SCP_ASSOCIATION_ABORTED, association_, calling_, called_, peer_, "aborted by peer");
    }
    void notifyDIMSEError(const OFCondition &cond) override {
        // handleAssociation() aborts the association right after this (PS3.8 A-ABORT).
        scp()->emit(MN_SCP_ASSOCIATION_ABORTED, association_, calling_, called_, peer_,
                    std::string("DIMSE error: ") + cond.text());
    }

    OFCondition handleIncomingCommand(T_DIMSE_Message *msg, const DcmPresentationContextInfo &presInfo) override {
        if (msg->CommandField == DIMSE_C_STORE_RQ) return handleStore(msg->msg.CStoreRQ, presInfo);
        if (msg->CommandField == DIMSE_C_ECHO_RQ) scp()->emit(MN_SCP_ECHO, association_, calling_, called_, peer_, "");
        return DcmThreadSCP::handleIncomingCommand(msg, presInfo);
    }

private:
    OFCondition handleStore(T_DIMSE_C_StoreRQ &request, const DcmPresentationContextInfo &presInfo) {
        const T_ASC_PresentationContextID presID = presInfo.presentationContextID;
        const std::string path = scp()->tempDirectory + "/" + std::to_string(association_) + "-" +
                                 std::to_string(g_nextFileNumber.fetch_add(1)) + ".part";
        OFCondition cond = receiveSTORERequest(request, presID, path.c_str());
        if (cond.bad()) {
            OFStandard::deleteFile(path.c_str());
            // The data set was read and discarded because the file could not be created: the
            // association is intact, answer "Refused: Out of Resources" (PS3.4 B.2.3).
            if (cond.module() == OFM_dcmnet && cond.code() == DIMSEC_OUTOFRESOURCES) {
                scp()->emit(MN_SCP_ERROR, association_, calling_, called_, peer_,
                            std::string("cannot create temporary file for instance ") + request.AffectedSOPInstanceUID +
                                ": " + cond.text());
                return sendSTOREResponse(presID, request, STATUS_STORE_Refused_OutOfResources);
            }
            scp()->emit(MN_SCP_ERROR, association_, calling_, called_, peer_,
                        std::string("receiving instance ") + request.AffectedSOPInstanceUID +
                            " failed: " + cond.text());
            return cond; // the association is aborted by DcmSCP::handleAssociation
        }

        // The request's UIDs are what the peer claims; report what the data set itself says so
        // that Swift can refuse a mismatch (PS3.4 B.2.3, 0xA900 / 0xC000).
        std::string dsClass, dsInstance, dsError;
        bool haveClass = false, haveInstance = false;
        {
            DcmFileFormat file;
            OFCondition read = file.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, 256, ERM_fileOnly,
                                                     DcmTagKey(0x0008, 0x0019));
            if (read.good()) {
                OFString value;
                if (file.getDataset()->findAndGetOFString(DCM_SOPClassUID, value).good()) {
                    dsClass = value.c_str();
                    haveClass = true;
                }
                if (file.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, value).good()) {
                    dsInstance = value.c_str();
                    haveInstance = true;
                }
                if (!haveClass || !haveInstance) dsError = "data set lacks (0008,0016) or (0008,0018)";
            } else {
                dsError = std::string("received data set cannot be parsed: ") + read.text();
            }
        }

        mn_scp_instance instance{};
        instance.temp_path = path.c_str();
        instance.sop_class_uid = request.AffectedSOPClassUID;
        instance.sop_instance_uid = request.AffectedSOPInstanceUID;
        instance.transfer_syntax_uid = presInfo.acceptedTransferSyntax.c_str();
        instance.dataset_sop_class_uid = haveClass ? dsClass.c_str() : nullptr;
        instance.dataset_sop_instance_uid = haveInstance ? dsInstance.c_str() : nullptr;
        instance.dataset_error = dsError.empty() ? nullptr : dsError.c_str();
        instance.calling_ae = calling_.c_str();
        instance.called_ae = called_.c_str();
        instance.peer_address = peer_.c_str();
        instance.association_id = association_;
        const Uint16 status = scp()->onInstance(scp()->context, &instance);
        return sendSTOREResponse(presID, request, status);
    }

    mn_scp *scp() const { return owner_; }

    mn_scp *owner_;
    T_ASC_Parameters *params_ = nullptr;
    uint64_t association_ = 0;
    std::string calling_, called_, peer_, refuseReason_;
    DcmRefuseReasonType refuseAs_ = DCMSCP_INTERNAL_ERROR; // INTERNAL_ERROR: DCMTK's own reason
};

/// Why a connection produced no association request, for the MN_SCP_CONNECTION_DROPPED event.
std::string droppedReason(const OFCondition &cond) {
    if (cond.good()) return "connection closed before an A-ASSOCIATE-RQ (e.g. a TCP health check or port scan)";
    if (cond == DUL_READTIMEOUT) return "no A-ASSOCIATE-RQ within the ACSE timeout (PS3.8 ARTIM)";
    return std::string("no valid A-ASSOCIATE-RQ received: ") + cond.text();
}

/// Serves one association on the calling thread, then marks its session finished. Never throws:
/// an exception escaping a std::thread would terminate the node.
void serveAssociation(mn_scp *scp, const DcmSharedSCPConfig &shared, T_ASC_Association *assoc,
                      mn_scp::Session *session) {
    try {
        StorageWorker worker(scp);
        worker.setSharedConfig(shared);
        // Negotiates, serves and finally drops and destroys the association (DcmSCP); the
        // worker's destructor drops it too if an early return left it open.
        worker.run(assoc);
    } catch (const std::exception &e) {
        scp->emit(MN_SCP_ERROR, 0, "", "", "", std::string("association thread failed: ") + e.what());
    } catch (...) {
        scp->emit(MN_SCP_ERROR, 0, "", "", "", "association thread failed: unknown C++ exception");
    }
    std::lock_guard<std::mutex> lock(scp->mutex);
    session->finished = true;
}

/// Joins the threads of finished sessions; returns how many are still being served.
size_t reapSessions(mn_scp *scp) {
    std::list<mn_scp::Session> done;
    size_t busy = 0;
    {
        std::lock_guard<std::mutex> lock(scp->mutex);
        for (auto it = scp->sessions.begin(); it != scp->sessions.end();) {
            if (it->finished) {
                auto next = std::next(it);
                done.splice(done.end(), scp->sessions, it);
                it = next;
            } else {
                ++busy;
                ++it;
            }
        }
    }
    for (auto &session : done) session.thread.join(); // it has set `finished`: returns at once
    return busy;
}

/// Sends A-ASSOCIATE-RJ rejected-transient / service-provider (presentation) / local-limit-exceeded
/// (PS3.8 9.3.4) from the listener thread, reports it, and frees the association.
void rejectBusy(mn_scp *scp, T_ASC_Association *assoc, const std::string &why) {
    T_ASC_RejectParameters rej;
    rej.result = ASC_RESULT_REJECTEDTRANSIENT;
    rej.source = ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED;
    rej.reason = ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED;
    ASC_rejectAssociation(assoc, &rej);
    const DUL_ASSOCIATESERVICEPARAMETERS &p = assoc->params->DULparams;
    scp->emit(MN_SCP_ASSOCIATION_REJECTED, 0, trimmed(p.callingAPTitle), trimmed(p.calledAPTitle),
              p.callingPresentationAddress, why);
}

void dropAndDestroy(T_ASC_Association *&assoc) {
    if (!assoc) return;
    ASC_dropAssociation(assoc);
    ASC_destroyAssociation(&assoc);
}

/// The accept loop. Returns when draining and no association is left, or when the port cannot be
/// opened (then nothing was started).
OFCondition listen(mn_scp *scp) {
    // Reverse DNS per association would cost seconds on a bad resolver.
    dcmDisableGethostbyaddr.set(OFTrue);
    const DcmSharedSCPConfig shared(scp->config);
    T_ASC_Network *network = nullptr;
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, static_cast<int>(scp->config.getPort()),
                                             static_cast<int>(scp->config.getACSETimeout()), &network);
    if (cond.bad()) return cond;
    if (scp->tls) {
        cond = ASC_setTransportLayer(network, scp->tls.get(), 0 /* not owned */);
        if (cond.bad()) {
            ASC_dropNetwork(&network);
            return cond;
        }
    }
    const OFBool secure = scp->tls ? OFTrue : OFFalse;
    for (;;) {
        if (scp->draining.load() && reapSessions(scp) == 0) break;

        // Waits up to 1 s for a connection (so that a stop is noticed), then up to the ACSE
        // timeout for its A-ASSOCIATE-RQ (PS3.8 ARTIM); a TLS handshake happens in between.
        T_ASC_Association *assoc = nullptr;
        cond = ASC_receiveAssociation(network, &assoc, static_cast<long>(scp->config.getMaxReceivePDULength()), nullptr,
                                      nullptr, secure, DUL_NOBLOCK, 1);
        if (cond == DUL_NOASSOCIATIONREQUEST) { // no connection within the second
            ASC_destroyAssociation(&assoc);
            continue;
        }
        std::string peer;
        if (assoc && assoc->params) peer = assoc->params->DULparams.callingPresentationAddress;
        // DCMTK 3.6.7 reports success with empty parameters when the peer closed the connection
        // before sending anything (PS3.8 state Sta2, event 17, action AA-5): every real
        // A-ASSOCIATE-RQ carries an Application Context Name (PS3.8 9.3.2.1).
        const bool isRequest =
            cond.good() && assoc && assoc->params && assoc->params->DULparams.applicationContextName[0] != '\0';
        if (!isRequest) {
            // A failed TLS handshake was reported as such when it happened (mn_scp_run).
            const bool tlsFailed = !mn::takeTLSFailure().empty();
            if (!tlsFailed) scp->emit(MN_SCP_CONNECTION_DROPPED, 0, "", "", peer, droppedReason(cond));
            dropAndDestroy(assoc);
            continue;
        }
        if (scp->draining.load()) {
            rejectBusy(scp, assoc, "server is shutting down");
            dropAndDestroy(assoc);
            continue;
        }
        // Counted now, not before the wait: associations may have ended meanwhile.
        if (reapSessions(scp) >= scp->maxAssociations) {
            rejectBusy(scp, assoc, "all association slots busy (local limit exceeded)");
            dropAndDestroy(assoc);
            continue;
        }
        try {
            std::lock_guard<std::mutex> lock(scp->mutex);
            scp->sessions.emplace_back();
            mn_scp::Session *session = &scp->sessions.back();
            // The thread may finish before this assignment completes; it only touches `finished`
            // (under the mutex), and only this thread joins it.
            session->thread = std::thread(serveAssociation, scp, std::cref(shared), assoc, session);
        } catch (const std::system_error &e) { // no thread could be started
            {
                std::lock_guard<std::mutex> lock(scp->mutex);
                scp->sessions.pop_back();
            }
            rejectBusy(scp, assoc, std::string("cannot start an association thread: ") + e.what());
            dropAndDestroy(assoc);
        }
    }
    ASC_dropNetwork(&network);
    return EC_Normal;
}

} // namespace

extern "C" mn_status mn_scp_create(const mn_scp_config *config, mn_scp_instance_callback on_instance,
                                   mn_scp_event_callback on_event, void *context, mn_scp **out, mn_error *err) {
    MN_GUARD(err, {
        if (!config || !on_instance || !out || !config->ae_title || !config->temp_directory)
            return mn::fail(err, MN_ERR_ARGUMENT, "mn_scp_create: missing configuration, callback or output");
        if (config->max_associations == 0 || config->max_associations > 0xFFFF)
            return mn::fail(err, MN_ERR_ARGUMENT, "max associations must be 1...65535, not %u",
                            config->max_associations);
        if (config->allowed_calling_ae_count > 0 && !config->allowed_calling_aes)
            return mn::fail(err, MN_ERR_ARGUMENT, "calling AE list is NULL");

        auto scp = new mn_scp();
        scp->aeTitle = trimmed(config->ae_title);
        scp->tempDirectory = config->temp_directory;
        for (size_t i = 0; i < config->allowed_calling_ae_count; ++i)
            scp->allowedCallingAEs.push_back(trimmed(config->allowed_calling_aes[i]));
        scp->acceptAnyCallingAE = config->accept_any_calling_ae != 0;
        scp->onInstance = on_instance;
        scp->onEvent = on_event;
        scp->context = context;
        scp->maxAssociations = config->max_associations;
        if (config->tls) {
            mn_status status = MN_OK;
            scp->tls = mn::makeTLSLayer(*config->tls, true, nullptr, status, err);
            if (!scp->tls) {
                mn_scp_free(scp);
                return status;
            }
        }

        DcmSCPConfig &cfg = scp->config;
        cfg.setAETitle(scp->aeTitle.c_str());
        cfg.setRespondWithCalledAETitle(OFFalse);
        cfg.setPort(config->port);
        if (config->max_pdu) cfg.setMaxReceivePDULength(config->max_pdu);
        if (config->acse_timeout_s) cfg.setACSETimeout(config->acse_timeout_s);
        if (config->dimse_timeout_s) {
            cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
            cfg.setDIMSETimeout(config->dimse_timeout_s);
        }
        cfg.setHostLookupEnabled(OFFalse);
        cfg.setProgressNotificationMode(OFFalse);
        // Negotiation is StorageWorker::negotiateAssociation's: no association profile is needed.
        *out = scp;
        return MN_OK;
    })
}

extern "C" mn_status mn_scp_run(mn_scp *scp, mn_error *err) {
    MN_GUARD(err, {
        if (!scp) return mn::fail(err, MN_ERR_ARGUMENT, "mn_scp_run: NULL scp");
        {
            std::lock_guard<std::mutex> lock(scp->mutex);
            if (scp->running) return mn::fail(err, MN_ERR_ARGUMENT, "SCP is already running");
            if (scp->draining.load()) return MN_OK;
            scp->running = true;
        }
        // DCMTK runs TLS handshakes on this (the listener) thread; report each failure with its reason.
        mn::onServerHandshakeFailure([scp](const std::string &peer, const std::string &why) {
            scp->emit(MN_SCP_TLS_FAILED, 0, "", "", peer, why);
        });
        OFCondition cond = listen(scp);
        mn::onServerHandshakeFailure(nullptr);
        {
            std::lock_guard<std::mutex> lock(scp->mutex);
            scp->running = false;
        }
        if (cond.bad()) {
            const std::string context = "listening on port " + std::to_string(scp->config.getPort());
            return mn::fail(err, MN_ERR_NETWORK, "%s: %s", context.c_str(), cond.text());
        }
        return MN_OK;
    })
}

extern "C" void mn_scp_set_admission(mn_scp *scp, mn_scp_admission_callback on_request) {
    if (scp) scp->onRequest = on_request;
}

extern "C" void mn_scp_stop(mn_scp *scp) {
    if (scp) scp->draining.store(true); // the listener checks it at least once a second
}

extern "C" void mn_scp_free(mn_scp *scp) {
    delete scp; // after mn_scp_run has returned: no thread is left
}

extern "C" size_t mn_scp_accepted_transfer_syntaxes(const char *const **list) {
    if (list) *list = kStorageTransferSyntaxes;
    return sizeof(kStorageTransferSyntaxes) / sizeof(kStorageTransferSyntaxes[0]);
}

extern "C" size_t mn_scp_accepted_sop_classes(const char *const **list) {
    if (list) *list = dcmAllStorageSOPClassUIDs;
    return static_cast<size_t>(numberOfDcmAllStorageSOPClassUIDs);
}
