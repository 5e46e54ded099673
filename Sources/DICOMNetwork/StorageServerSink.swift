import CDICOM
import CDICOMNetwork
import DICOM
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The Swift end of the SCP's callbacks: decides each C-STORE's status (the storage policy) and
/// forwards events. Called concurrently from DCMTK's worker threads; it holds immutable state, a
/// continuation and per-association counters behind a mutex, all safe to share.
final class StorageServerSink: Sendable {
    /// The per-instance limits of ``StorageServerConfiguration``.
    struct Limits: Sendable {
        var maxInstanceBytes: UInt64?
        var maxInstancesPerAssociation: Int?
        init(_ c: StorageServerConfiguration) {
            maxInstanceBytes = c.maxInstanceBytes
            maxInstancesPerAssociation = c.maxInstancesPerAssociation
        }
    }

    private let store: InstanceStore
    private let continuation: AsyncStream<StorageServerEvent>.Continuation
    private let limits: Limits
    private let admission: (@Sendable (AssociationInfo) -> AssociationAdmission)?
    private let onInstance: (@Sendable (ReceivedInstance) throws -> Void)?
    /// Indexes (`onInstance`) and flushes the instances of all associations, a round at a time.
    private let group: GroupCommit
    private let associationEnded: (@Sendable (AssociationInfo, Bool, String) -> Void)?
    /// C-STOREs seen per open association, for `maxInstancesPerAssociation`.
    private let counts = Mutex<[UInt64: Int]>([:])

    init(
        store: InstanceStore, continuation: AsyncStream<StorageServerEvent>.Continuation, limits: Limits,
        admit: (@Sendable (AssociationInfo) -> AssociationAdmission)?,
        onInstance: (@Sendable (ReceivedInstance) throws -> Void)?,
        associationEnded: (@Sendable (AssociationInfo, Bool, String) -> Void)? = nil, indexBeforeFlush: Bool = true
    ) {
        self.store = store
        self.continuation = continuation
        self.limits = limits
        self.admission = admit
        self.onInstance = onInstance
        self.associationEnded = associationEnded
        group = GroupCommit(
            index: { instance in try onInstance?(instance) }, flush: { try store.flush() },
            indexBeforeFlush: indexBeforeFlush)
    }

    var hasAdmission: Bool { admission != nil }

    /// The admission decision for an association request (free disk, address allow-lists).
    func admit(_ raw: mn_scp_event) -> AssociationAdmission {
        admission?(
            AssociationInfo(
                id: raw.association_id, callingAETitle: String(cString: raw.calling_ae),
                calledAETitle: String(cString: raw.called_ae),
                peer: String(cString: raw.peer_address))) ?? .admit
    }

    func finish() { continuation.finish() }

    /// Decides the C-STORE response for one received file. The file is committed or deleted here.
    func receive(_ raw: mn_scp_instance) -> DIMSEStatus {
        let association = AssociationInfo(
            id: raw.association_id, callingAETitle: String(cString: raw.calling_ae),
            calledAETitle: String(cString: raw.called_ae),
            peer: String(cString: raw.peer_address))
        let temporary = String(cString: raw.temp_path)
        let instance: ReceivedInstance
        do {
            try checkLimits(raw, temporary: temporary, association: association)
            instance = try accept(raw, temporary: temporary, association: association)
        } catch {
            unlink(temporary) // already gone when the store took it
            return refuse(association, error)
        }
        do {
            try group.commit(instance)
        } catch {
            let detail = (error as? DICOMError)?.message ?? String(describing: error)
            return refuse(
                association,
                Refusal(
                    status: .outOfResources,
                    error: DICOMError(
                        .io, "C-STORE of \(instance.sopInstanceUID): not recorded durably: \(detail)",
                        path: instance.path, peer: association.description)))
        }
        continuation.yield(.instanceStored(instance))
        return .success
    }

    private func refuse(_ association: AssociationInfo, _ refusal: Refusal) -> DIMSEStatus {
        continuation.yield(.instanceRefused(association, status: refusal.status, error: refusal.error))
        return refusal.status
    }

    private struct Refusal: Error {
        var status: DIMSEStatus
        var error: DICOMError
    }

    /// Refuses an instance beyond the association's count or the size cap with 0xA700 "Refused:
    /// Out of Resources" (PS3.4 B.2.3): a resource limit of ours, not a fault of the data. DCMTK
    /// has streamed the data set to disk by now (the C-STORE request does not announce its size),
    /// so the cap bounds what is kept, and the temporary file goes at once.
    private func checkLimits(_ raw: mn_scp_instance, temporary: String, association: AssociationInfo) throws(Refusal) {
        let uid = String(cString: raw.sop_instance_uid)
        if let cap = limits.maxInstancesPerAssociation {
            let seen = counts.withLock { counts -> Int in
                counts[association.id, default: 0] += 1
                return counts[association.id]!
            }
            if seen > cap {
                throw Refusal(
                    status: .outOfResources,
                    error: DICOMError(
                        .refused,
                        "C-STORE of \(uid): more than \(cap) instances in one association (limits.max_instances_per_association)",
                        peer: association.description))
            }
        }
        if let cap = limits.maxInstanceBytes {
            var info = stat()
            if stat(temporary, &info) == 0, UInt64(info.st_size) > cap {
                throw Refusal(
                    status: .outOfResources,
                    error: DICOMError(
                        .refused,
                        "C-STORE of \(uid): \(info.st_size) bytes exceed the limit of \(cap) (limits.max_instance_mb)",
                        peer: association.description))
            }
        }
    }

    /// Checks the instance and commits it to the store.
    private func accept(
        _ raw: mn_scp_instance, temporary: String,
        association: AssociationInfo
    ) throws(Refusal) -> ReceivedInstance {
        let peer = association.description
        let requestClass = String(cString: raw.sop_class_uid)
        let requestInstance = String(cString: raw.sop_instance_uid)
        // PS3.4 B.2.3: a request we cannot interpret is "Error: Cannot understand" (Cxxx).
        func cannotUnderstand(_ message: String, tag: Tag? = nil) -> Refusal {
            Refusal(
                status: .cannotUnderstand,
                error: DICOMError(.badValue, "C-STORE of \(requestInstance): \(message)", tag: tag, peer: peer))
        }
        if let problem = UIDValidation.problem(in: requestInstance) {
            throw cannotUnderstand(
                "Affected SOP Instance UID is not a valid UID (\(problem))", tag: Tag(0x0000, 0x1000))
        }
        guard let datasetInstance = raw.dataset_sop_instance_uid.map({ String(cString: $0) }),
            let datasetClass = raw.dataset_sop_class_uid.map({ String(cString: $0) })
        else {
            let why = raw.dataset_error.map { String(cString: $0) } ?? "data set unreadable"
            throw Refusal(
                status: .cannotUnderstand,
                error: DICOMError(.corrupt, "C-STORE of \(requestInstance): \(why)", peer: peer))
        }
        if datasetInstance != requestInstance {
            throw cannotUnderstand(
                "data set has SOP Instance UID \(datasetInstance), request says \(requestInstance)",
                tag: .sopInstanceUID)
        }
        if datasetClass != requestClass {
            throw Refusal(
                status: .dataSetDoesNotMatchSOPClass,
                error: DICOMError(
                    .badValue,
                    "C-STORE of \(requestInstance): data set has SOP Class UID "
                        + "\(datasetClass), request says \(requestClass)", tag: .sopClassUID,
                    peer: peer))
        }
        let commit: InstanceStore.Commit
        do {
            // Durable with the round's flush, before the response (`GroupCommit`).
            commit = try store.stage(temporaryFile: temporary, sopInstanceUID: requestInstance)
        } catch {
            var error = error
            error.peer = peer
            throw Refusal(status: .outOfResources, error: error)
        }
        return ReceivedInstance(
            path: commit.path, sopClassUID: requestClass, sopInstanceUID: requestInstance,
            transferSyntaxUID: String(cString: raw.transfer_syntax_uid),
            association: association, isDuplicate: commit.isDuplicate)
    }

    func report(_ raw: mn_scp_event) {
        let association = AssociationInfo(
            id: raw.association_id, callingAETitle: String(cString: raw.calling_ae),
            calledAETitle: String(cString: raw.called_ae),
            peer: String(cString: raw.peer_address))
        let message = String(cString: raw.message)
        let kind = mn_scp_event_kind(rawValue: UInt32(bitPattern: raw.kind))
        if kind == MN_SCP_ASSOCIATION_RELEASED || kind == MN_SCP_ASSOCIATION_ABORTED {
            _ = counts.withLock { $0.removeValue(forKey: association.id) }
            associationEnded?(association, kind == MN_SCP_ASSOCIATION_RELEASED, message.isEmpty ? "released" : message)
        }
        switch kind {
        case MN_SCP_ASSOCIATION_ACCEPTED: continuation.yield(.associationAccepted(association))
        case MN_SCP_ASSOCIATION_REJECTED: continuation.yield(.associationRejected(association, reason: message))
        case MN_SCP_ASSOCIATION_RELEASED: continuation.yield(.associationReleased(association))
        case MN_SCP_ASSOCIATION_ABORTED: continuation.yield(.associationAborted(association, reason: message))
        case MN_SCP_ECHO: continuation.yield(.echo(association))
        case MN_SCP_TLS_FAILED: continuation.yield(.tlsHandshakeFailed(association, reason: message))
        case MN_SCP_CONNECTION_DROPPED: continuation.yield(.connectionDropped(peer: association.peer, reason: message))
        default:
            continuation.yield(.error(association, DICOMError(.network, message, peer: association.description)))
        }
    }
}
