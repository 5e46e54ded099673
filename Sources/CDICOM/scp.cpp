// Storage SCP: a DcmSCPPool whose DcmThreadSCP workers stream each C-STORE data set to a
// temporary file and ask the Swift callback for the DIMSE status before responding.
//
// Policy (UID validation, naming, fsync, duplicates) lives in Swift; this file only translates
// DCMTK's association life cycle into mn_scp_event callbacks and C-STOREs into
// mn_scp_instance callbacks (style.md §2).
//
// Reaching the mn_scp from a worker: DcmSCPPool default-constructs its workers, so they cannot
// be handed a pointer. The pool's third template parameter lets us supply the worker base; its
// run() (the worker thread's entry) copies the owning mn_scp into a thread_local before DCMTK
// calls back into the worker on that same thread.
#include "shim_internal.h"

#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scppool.h"
#include "dcmtk/dcmnet/scpthrd.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

class StoragePool;
thread_local mn_scp *t_scp = nullptr;

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
    StoragePool *pool = nullptr;
    // Not owned by DCMTK's configuration (DcmSCPConfig::setTransportLayer); outlives the pool.
    std::unique_ptr<DcmTransportLayer> tls;
    // Set by mn_scp_stop: workers refuse new associations, the watcher stops the listener.
    std::atomic<bool> draining{false};
    std::mutex stopMutex;
    std::condition_variable stopSignal;
    bool running = false;

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

/// The worker base of the pool: sets the thread_local before DCMTK runs the association.
class StorageWorkerBase : public DcmBaseSCPPool::DcmBaseSCPWorker {
  public:
    explicit StorageWorkerBase(DcmBaseSCPPool &pool);

  protected:
    void run() override;
};

/// DcmBaseSCPPool with a back pointer to its mn_scp, and a report of associations the listener
/// refuses or fails to receive before any worker sees them.
class StoragePoolBase : public DcmBaseSCPPool {
  public:
    mn_scp *owner = nullptr;

  protected:
    // DCMTK 3.6.7 calls this only from listen(): after rejecting an association for which no worker
    // was free (PS3.8 A-ASSOCIATE-RJ, local limit exceeded) and after failing to receive an
    // association request (a port scan, garbage bytes, a peer that went away).
    void dropAndDestroyAssociation(T_ASC_Association *assoc) override {
        if (owner && assoc) {
            const bool full = numThreads(OFTrue) >= getMaxThreads();
            std::string calling, called, peer;
            if (assoc->params) {
                calling = trimmed(assoc->params->DULparams.callingAPTitle);
                called = trimmed(assoc->params->DULparams.calledAPTitle);
                peer = assoc->params->DULparams.callingPresentationAddress;
            }
            // A failed TLS handshake was reported as such when it happened (mn_scp_run).
            const bool tlsFailed = !mn::takeTLSFailure().empty();
            if (full || !tlsFailed)
                owner->emit(MN_SCP_ASSOCIATION_REJECTED, 0, calling, called, peer,
                            full ? "all association slots busy (local limit exceeded)"
                                 : "no valid association request received");
        }
        DcmBaseSCPPool::dropAndDestroyAssociation(assoc);
    }
};

/// One association: negotiation checks, C-STORE to file, C-ECHO, life-cycle events.
class StorageWorker : public DcmThreadSCP {
  public:
    // Constructed on the listener thread; t_scp is only valid on the worker's own thread, so it
    // is read there, in every callback.
    StorageWorker() = default;

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
        case MN_SCP_ADMIT: return;
        // DcmSCP refuses with DCMSCP_INTERNAL_ERROR (permanent, no reason); refuseAssociation below
        // substitutes the reason whose A-ASSOCIATE-RJ fields PS3.8 9.3.4 asks for.
        case MN_SCP_REFUSE_RESOURCES: refuseAs_ = DCMSCP_TOO_MANY_ASSOCIATIONS; break;
        case MN_SCP_REFUSE_CALLING_AE: refuseAs_ = DCMSCP_CALLING_AE_TITLE_NOT_RECOGNIZED; break;
        default: refuseAs_ = DCMSCP_CALLING_HOST_NOT_ALLOWED; break;
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
            case DCMSCP_CALLED_AE_TITLE_NOT_RECOGNIZED: why = "called AE title not recognized"; break;
            case DCMSCP_CALLING_AE_TITLE_NOT_RECOGNIZED: why = "calling AE title not allowed"; break;
            case DCMSCP_NO_PRESENTATION_CONTEXTS: why = "no acceptable presentation context"; break;
            case DCMSCP_BAD_APPLICATION_CONTEXT_NAME: why = "unsupported application context"; break;
            case DCMSCP_CALLING_HOST_NOT_ALLOWED: why = "calling host not allowed"; break;
            default: why = "association refused"; break;
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
        if (msg->CommandField == DIMSE_C_ECHO_RQ)
            scp()->emit(MN_SCP_ECHO, association_, calling_, called_, peer_, "");
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
                           std::string("cannot create temporary file for instance ") +
                               request.AffectedSOPInstanceUID + ": " + cond.text());
                return sendSTOREResponse(presID, request, STATUS_STORE_Refused_OutOfResources);
            }
            scp()->emit(MN_SCP_ERROR, association_, calling_, called_, peer_,
                       std::string("receiving instance ") + request.AffectedSOPInstanceUID + " failed: " +
                           cond.text());
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

    static mn_scp *scp() { return t_scp; }

    T_ASC_Parameters *params_ = nullptr;
    uint64_t association_ = 0;
    std::string calling_, called_, peer_, refuseReason_;
    DcmRefuseReasonType refuseAs_ = DCMSCP_INTERNAL_ERROR; // INTERNAL_ERROR: DCMTK's own reason
};

StorageWorkerBase::StorageWorkerBase(DcmBaseSCPPool &pool) : DcmBaseSCPPool::DcmBaseSCPWorker(pool) {}

void StorageWorkerBase::run() {
    mn_scp *scp = static_cast<StoragePoolBase &>(m_pool).owner;
    t_scp = scp;
    // DCMTK 3.6.7 deletes a finished worker without joining its thread, so every association
    // would leak a joinable thread's stack. Detach unless we are shutting down: then the
    // listener may join this thread itself (it joins the workers still busy when it stops),
    // and joining a detached thread is undefined. mn_scp_stop waits for busy workers to finish
    // before stopping the listener, so a worker detached here is never joined.
    if (!scp->draining.load()) pthread_detach(pthread_self());
    DcmBaseSCPPool::DcmBaseSCPWorker::run(); // ends the thread (OFThread::thread_exit)
}

class StoragePool : public DcmSCPPool<StorageWorker, StoragePoolBase, StorageWorkerBase> {};

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
        scp->pool = new StoragePool();
        scp->pool->owner = scp;
        if (config->tls) {
            mn_status status = MN_OK;
            scp->tls = mn::makeTLSLayer(*config->tls, true, nullptr, status, err);
            if (!scp->tls) {
                mn_scp_free(scp);
                return status;
            }
            scp->pool->getConfig().setTransportLayer(scp->tls.get());
        }

        DcmSCPConfig &cfg = scp->pool->getConfig();
        cfg.setAETitle(scp->aeTitle.c_str());
        cfg.setRespondWithCalledAETitle(OFFalse);
        cfg.setPort(config->port);
        if (config->max_pdu) cfg.setMaxReceivePDULength(config->max_pdu);
        if (config->acse_timeout_s) cfg.setACSETimeout(config->acse_timeout_s);
        if (config->dimse_timeout_s) {
            cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
            cfg.setDIMSETimeout(config->dimse_timeout_s);
        }
        // Non-blocking accept with a 1 s timeout: the only way DCMTK's listen loop notices a stop.
        cfg.setConnectionBlockingMode(DUL_NOBLOCK);
        cfg.setConnectionTimeout(1);
        cfg.setHostLookupEnabled(OFFalse); // reverse DNS per association would cost seconds on a bad resolver
        cfg.setProgressNotificationMode(OFFalse);
        scp->pool->setMaxThreads(static_cast<Uint16>(config->max_associations));

        // The pool wants a non-empty association profile; negotiation itself is done by the worker.
        OFList<OFString> echoSyntaxes;
        echoSyntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
        OFCondition cond = cfg.addPresentationContext(UID_VerificationSOPClass, echoSyntaxes);
        if (cond.bad()) {
            mn_scp_free(scp);
            return mn::failCondition(err, cond, "configuring presentation contexts");
        }
        *out = scp;
        return MN_OK;
    })
}

extern "C" mn_status mn_scp_run(mn_scp *scp, mn_error *err) {
    MN_GUARD(err, {
        if (!scp) return mn::fail(err, MN_ERR_ARGUMENT, "mn_scp_run: NULL scp");
        {
            std::lock_guard<std::mutex> lock(scp->stopMutex);
            if (scp->running) return mn::fail(err, MN_ERR_ARGUMENT, "SCP is already running");
            if (scp->draining.load()) return MN_OK;
            scp->running = true;
        }
        // DcmBaseSCPPool::listen() resets its run mode on entry, so a stop that arrives before the
        // loop starts would be lost: a watcher waits for mn_scp_stop, lets the busy workers finish
        // (see StorageWorkerBase::run), then repeats the stop request until listen() returns.
        std::thread watcher([scp] {
            std::unique_lock<std::mutex> lock(scp->stopMutex);
            scp->stopSignal.wait(lock, [scp] { return scp->draining.load() || !scp->running; });
            while (scp->running && scp->pool->numThreads(OFTrue) > 0)
                scp->stopSignal.wait_for(lock, std::chrono::milliseconds(20));
            while (scp->running) {
                scp->pool->stopAfterCurrentAssociations();
                scp->stopSignal.wait_for(lock, std::chrono::milliseconds(100));
            }
        });
        // DCMTK runs TLS handshakes on this (the listener) thread; report each failure with its reason.
        mn::onServerHandshakeFailure([scp](const std::string &peer, const std::string &why) {
            scp->emit(MN_SCP_TLS_FAILED, 0, "", "", peer, why);
        });
        OFCondition cond = scp->pool->listen();
        mn::onServerHandshakeFailure(nullptr);
        {
            std::lock_guard<std::mutex> lock(scp->stopMutex);
            scp->running = false;
        }
        scp->stopSignal.notify_all();
        watcher.join();
        if (cond.bad()) {
            const std::string context = "listening on port " + std::to_string(scp->pool->getConfig().getPort());
            return mn::fail(err, MN_ERR_NETWORK, "%s: %s", context.c_str(), cond.text());
        }
        return MN_OK;
    })
}

extern "C" void mn_scp_set_admission(mn_scp *scp, mn_scp_admission_callback on_request) {
    if (scp) scp->onRequest = on_request;
}

extern "C" void mn_scp_stop(mn_scp *scp) {
    if (!scp) return;
    {
        std::lock_guard<std::mutex> lock(scp->stopMutex);
        scp->draining.store(true);
    }
    scp->stopSignal.notify_all();
}

extern "C" void mn_scp_free(mn_scp *scp) {
    if (!scp) return;
    delete scp->pool;
    delete scp;
}

extern "C" size_t mn_scp_accepted_transfer_syntaxes(const char *const **list) {
    if (list) *list = kStorageTransferSyntaxes;
    return sizeof(kStorageTransferSyntaxes) / sizeof(kStorageTransferSyntaxes[0]);
}

extern "C" size_t mn_scp_accepted_sop_classes(const char *const **list) {
    if (list) *list = dcmAllStorageSOPClassUIDs;
    return static_cast<size_t>(numberOfDcmAllStorageSOPClassUIDs);
}
