import CDICOM
import CDICOMNetwork
import DICOM

/// A DICOM Storage SCP (PS3.4 Annex B) and Verification SCP: receives C-STOREs into an
/// ``InstanceStore`` and answers success only once the instance is durable.
///
/// DCMTK's thread pool serves up to `maxAssociations` associations at once. Each instance is
/// streamed to a temporary file exactly as received (no transcoding), checked (the request's and
/// the data set's SOP Instance UID must be the same valid UID, the SOP classes must agree),
/// linked into the store, passed to `onInstance`, flushed, and only then answered. Instances
/// that arrive together on several associations share one flush (`GroupCommit`).
///
/// ```swift
/// let server = try StorageServer(configuration: configuration)
/// Task { for await event in server.events { print(event) } }
/// try await server.run()          // until server.stop() (e.g. on SIGTERM) or cancellation
/// ```
public final class StorageServer: Sendable {
    public let configuration: StorageServerConfiguration
    public let store: InstanceStore
    /// Instances and association events, in the order they happened per association. Unbounded:
    /// consume it, or rely on `onInstance` for what must not be missed. Finishes when `run` returns.
    public let events: AsyncStream<StorageServerEvent>

    private let sink: StorageServerSink
    private let handle: SCPHandle

    /// Prepares the server (opens the store; nothing listens yet).
    /// - Parameter onInstance: called on a DCMTK thread for every stored instance (duplicates
    ///   included) before the flush and the response; throwing makes the response "Refused: Out
    ///   of Resources" (0xA700) so the sender retries. The instance stays in the store. What it
    ///   writes under `configuration.alsoDurable` need not be flushed by it.
    /// - Parameter admit: asked on a DCMTK thread for every association request before the AE
    ///   title checks (free disk, source address allow-lists); nil admits everyone.
    /// - Parameter associationEnded: told on the association's DCMTK thread how it ended —
    ///   normally (A-RELEASE-RQ; called before the A-RELEASE-RP is sent, so a sender that saw its
    ///   release confirmed knows the node recorded it) or not (A-ABORT from either side, a lost
    ///   connection; `how` says which) — after every instance it stored went through `onInstance`.
    public init(
        configuration: StorageServerConfiguration,
        onInstance: (@Sendable (ReceivedInstance) throws -> Void)? = nil,
        admit: (@Sendable (AssociationInfo) -> AssociationAdmission)? = nil,
        associationEnded: (@Sendable (AssociationInfo, _ normally: Bool, _ how: String) -> Void)? = nil
    )
        throws(DICOMError)
    {
        NetworkEnvironment.prepare()
        try configuration.tls?.checkPrivateKeyFile()
        self.configuration = configuration
        store = try InstanceStore(
            directory: configuration.storeDirectory, incomingName: configuration.incomingName,
            alsoDurable: configuration.alsoDurable)
        let (stream, continuation) = AsyncStream.makeStream(of: StorageServerEvent.self)
        events = stream
        sink = StorageServerSink(
            store: store, continuation: continuation, limits: .init(configuration),
            admit: admit, onInstance: onInstance, associationEnded: associationEnded,
            indexBeforeFlush: configuration.indexBeforeFlush)
        handle = try SCPHandle(configuration: configuration, incomingDirectory: store.incomingDirectory, sink: sink)
    }

    /// Listens until ``stop()`` is called or the task is cancelled, then waits for the current
    /// associations to end. Throws when the port cannot be opened.
    public func run() async throws(DICOMError) {
        let handle = self.handle
        let port = configuration.port
        let result = await withTaskCancellationHandler {
            await runOnDedicatedThread(name: "dicom-scp-\(port)") { () -> Result<Void, DICOMError> in
                var detail = mn_error()
                let status = mn_scp_run(handle.pointer, &detail)
                if status == MN_OK { return .success(()) }
                if detail.code == 0 { detail.code = Int32(status.rawValue) }
                return .failure(DICOMError(detail, peer: "port \(port)"))
            }
        } onCancel: {
            handle.stop()
        }
        sink.finish()
        try result.get()
    }

    /// Refuses new associations, lets the current ones finish, then makes ``run()`` return.
    /// Thread-safe; returns at once.
    public func stop() { handle.stop() }
}

/// Owns the mn_scp; freed when the server goes away (after `run` has returned).
private final class SCPHandle: @unchecked Sendable {
    // The mn_scp is internally synchronised: run on one thread, stop from any.
    let pointer: OpaquePointer
    private let sink: StorageServerSink

    init(
        configuration c: StorageServerConfiguration, incomingDirectory: String, sink: StorageServerSink
    ) throws(DICOMError) {
        self.sink = sink
        let allowed: [String]
        switch c.callingAETitles {
        case .acceptAny: allowed = []
        case .allowList(let titles): allowed = titles.map(\.value).sorted()
        }
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var created: OpaquePointer?
        var detail = mn_error()
        func withTLS<R>(_ body: (UnsafePointer<mn_tls_config>?) -> R) -> R {
            guard let tls = c.tls else { return body(nil) }
            return tls.withShimConfig { body($0) }
        }
        let status = withTLS { tls in
            withCStrings(allowed) { list in
                c.aeTitle.value.withCString { ae in
                    incomingDirectory.withCString { temp in
                        var config = mn_scp_config()
                        config.tls = tls
                        config.ae_title = ae
                        config.port = c.port
                        config.max_associations = UInt32(clamping: c.maxAssociations)
                        config.max_pdu = c.maxPDULength
                        config.acse_timeout_s = UInt32(clamping: c.acseTimeout.components.seconds)
                        config.dimse_timeout_s = UInt32(clamping: c.dimseTimeout.components.seconds)
                        config.temp_directory = temp
                        config.allowed_calling_aes = list
                        config.allowed_calling_ae_count = allowed.count
                        config.accept_any_calling_ae = c.callingAETitles == .acceptAny ? 1 : 0
                        return mn_scp_create(
                            &config, storageServerInstanceCallback, storageServerEventCallback,
                            context, &created, &detail)
                    }
                }
            }
        }
        if status != MN_OK {
            if detail.code == 0 { detail.code = Int32(status.rawValue) }
            throw DICOMError(detail, peer: "port \(c.port)")
        }
        pointer = created!
        if sink.hasAdmission { mn_scp_set_admission(pointer, storageServerAdmissionCallback) }
    }

    func stop() { mn_scp_stop(pointer) }

    deinit { mn_scp_free(pointer) }
}

/// Calls `body` with a C array of C strings valid for the duration of the call.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private let storageServerInstanceCallback: mn_scp_instance_callback = { context, instance in
    let sink = Unmanaged<StorageServerSink>.fromOpaque(context!).takeUnretainedValue()
    return sink.receive(instance!.pointee).rawValue
}

private let storageServerAdmissionCallback: mn_scp_admission_callback = { context, request, reason, capacity in
    let sink = Unmanaged<StorageServerSink>.fromOpaque(context!).takeUnretainedValue()
    let decision = sink.admit(request!.pointee)
    let (code, text): (mn_scp_admission, String) =
        switch decision {
        case .admit: (MN_SCP_ADMIT, "")
        case .refuseResources(let why): (MN_SCP_REFUSE_RESOURCES, why)
        case .refuseCallingHost(let why): (MN_SCP_REFUSE_CALLING_HOST, why)
        case .refuseCallingAE(let why): (MN_SCP_REFUSE_CALLING_AE, why)
        }
    if let reason, capacity > 0 {
        let bytes = Array(text.utf8.prefix(capacity - 1))
        for (index, byte) in bytes.enumerated() { reason[index] = CChar(bitPattern: byte) }
        reason[bytes.count] = 0
    }
    return Int32(bitPattern: code.rawValue)
}

private let storageServerEventCallback: mn_scp_event_callback = { context, event in
    let sink = Unmanaged<StorageServerSink>.fromOpaque(context!).takeUnretainedValue()
    sink.report(event!.pointee)
}

extension StorageServer {
    /// Transfer syntax UIDs accepted for every storage SOP class, in order of preference.
    public static var acceptedTransferSyntaxes: [String] {
        var list: UnsafePointer<UnsafePointer<CChar>?>?
        let count = mn_scp_accepted_transfer_syntaxes(&list)
        return (0..<count).compactMap { list?[$0].map { String(cString: $0) } }
    }

    /// Storage SOP Class UIDs accepted (DCMTK's list of all storage SOP classes), besides
    /// Verification (C-ECHO).
    public static var acceptedSOPClasses: [String] {
        var list: UnsafePointer<UnsafePointer<CChar>?>?
        let count = mn_scp_accepted_sop_classes(&list)
        return (0..<count).compactMap { list?[$0].map { String(cString: $0) } }
    }
}
