import DICOM
import DICOMNetwork
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The node's audit trail (IHE ATNA, PS3.15 A.5): turns what the receiver and
/// the sender report into PS3.15 A.5.3 messages and appends each as one JSON line to the audit
/// file (mode 0600), fsync'd per message (there are a few per association, not per instance,
/// and a trail that loses its last lines in a crash is the trail an auditor needs most), and
/// sends a copy to the syslog receiver when one is configured.
///
/// - Application Activity (110100): start and stop.
/// - Begin Transferring DICOM Instances (110102): at the first instance of an association.
/// - DICOM Instances Transferred (110104): one per association that stored or refused
///   instances, when it ends (action C, with the studies, SOP classes and patient IDs), and one
///   per delivery of results to a destination (action R).
/// - Security Alert (110113, Node Authentication 110126): an association refused for its
///   calling AE title or source address, a failed TLS handshake.
///
/// These messages carry patient IDs, which is their purpose; the ordinary log never does.
public actor AuditTrail {
    let path: String
    let aeTitle: String
    let host: String
    private let descriptor: Int32
    private let syslog: SyslogForwarder?
    private let logger: Logger
    /// Open inbound associations that stored or refused something.
    private var transfers: [UInt64: Transfer] = [:]

    struct Transfer {
        var association: AssociationInfo
        /// Study Instance UID → SOP Class UID → count.
        var studies: [String: [String: Int]] = [:]
        var patientIDs: Set<String> = []
        var refused = 0
        var stored: Int { studies.values.reduce(0) { $0 + $1.values.reduce(0, +) } }
    }

    /// Opens (creating with mode 0600) the audit file for appending.
    public init(path: String, aeTitle: String, syslog: NodeConfiguration.SyslogTarget?, logger: Logger) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ConfigurationError(
                file: path, line: nil, key: "audit.file",
                message: "cannot open the audit file: \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.aeTitle = aeTitle
        descriptor = fd
        var name = [CChar](repeating: 0, count: 256)
        host = gethostname(&name, name.count) == 0 ? String(cString: name) : "localhost"
        self.syslog = syslog.map { SyslogForwarder(target: $0, hostname: String(cString: name), logger: logger) }
        self.logger = logger
    }

    deinit { close(descriptor) }

    // MARK: - Events

    public func applicationStarted() { write(application(AuditCode.applicationStart)) }
    public func applicationStopped() { write(application(AuditCode.applicationStop)) }

    /// What the storage SCP reported (in order per association, as ``StorageServer/events`` gives them).
    public func record(_ event: StorageServerEvent) {
        switch event {
        case .instanceStored(let instance):
            var transfer = transfers[instance.association.id] ?? Transfer(association: instance.association)
            if transfer.stored == 0 { write(beginTransferring(instance.association)) }
            let header = try? DataSet.read(contentsOf: instance.path, headerOnly: true)
            let study = (try? header?.string(.studyInstanceUID)) ?? nil
            transfer.studies[study ?? "unknown", default: [:]][instance.sopClassUID, default: 0] += 1
            if let patient = (try? header?.string(.patientID)) ?? nil, !patient.isEmpty {
                transfer.patientIDs.insert(patient)
            }
            transfers[instance.association.id] = transfer
        case .instanceRefused(let association, _, _):
            transfers[association.id, default: Transfer(association: association)].refused += 1
        case .associationReleased(let association):
            finish(association, aborted: false)
        case .associationAborted(let association, _):
            finish(association, aborted: true)
        case .associationRejected(let association, let reason) where Self.isSecurityRefusal(reason):
            write(securityAlert(association, reason: "association rejected: \(reason)"))
        case .tlsHandshakeFailed(let association, let reason):
            write(securityAlert(association, reason: reason))
        default:
            break
        }
    }

    /// Rejections that say who the peer is not (calling/called AE title, address), as opposed to
    /// the node being busy, full or stopping.
    static func isSecurityRefusal(_ reason: String) -> Bool {
        reason.contains("AE title") || reason.contains("not allowed")
    }

    /// One delivery of result files to a destination (one or more associations of the sender).
    public func instancesSent(to destination: NodeConfiguration.Destination, files: [String], stored: [Bool]) {
        var studies: [String: [String: Int]] = [:]
        var patients: Set<String> = []
        for file in files {
            guard let header = try? DataSet.read(contentsOf: file, headerOnly: true) else { continue }
            let study = ((try? header.string(.studyInstanceUID)) ?? nil) ?? "unknown"
            let sopClass = ((try? header.string(.sopClassUID)) ?? nil) ?? "unknown"
            studies[study, default: [:]][sopClass, default: 0] += 1
            if let patient = (try? header.string(.patientID)) ?? nil, !patient.isEmpty { patients.insert(patient) }
        }
        let sent = stored.filter { $0 }.count
        let outcome = sent == files.count ? "0" : sent == 0 ? "8" : "4"
        let us = participant(requestor: true, role: AuditCode.sourceRole)
        let peer = AuditMessage.ActiveParticipant(
            UserID: destination.aeTitle.value, AlternativeUserID: nil, UserName: destination.name,
            UserIsRequestor: false,
            NetworkAccessPointID: destination.host, NetworkAccessPointTypeCode: Self.accessPointType(destination.host),
            RoleIDCode: [AuditCode.destinationRole])
        write(
            message(
                AuditCode.instancesTransferred, action: "R", outcome: outcome,
                description: outcome == "0"
                    ? nil : "\(files.count - sent) of \(files.count) not stored by \(destination.aeTitle)",
                participants: [us, peer], objects: Self.objects(studies: studies, patients: patients)))
    }

    // MARK: - Messages

    private func finish(_ association: AssociationInfo, aborted: Bool) {
        guard let transfer = transfers.removeValue(forKey: association.id) else { return }
        let outcome = transfer.refused == 0 && !aborted ? "0" : transfer.stored == 0 ? "8" : "4"
        var problems: [String] = []
        if transfer.refused > 0 { problems.append("\(transfer.refused) instances refused") }
        if aborted { problems.append("association aborted") }
        let peer = AuditMessage.ActiveParticipant(
            UserID: association.callingAETitle, AlternativeUserID: nil, UserName: nil, UserIsRequestor: true,
            NetworkAccessPointID: association.peer, NetworkAccessPointTypeCode: "2", RoleIDCode: [AuditCode.sourceRole])
        let us = participant(requestor: false, role: AuditCode.destinationRole)
        write(
            message(
                AuditCode.instancesTransferred, action: "C", outcome: outcome,
                description: problems.isEmpty ? nil : problems.joined(separator: "; "),
                participants: [peer, us],
                objects: Self.objects(studies: transfer.studies, patients: transfer.patientIDs)))
    }

    private func beginTransferring(_ association: AssociationInfo) -> AuditMessage {
        let peer = AuditMessage.ActiveParticipant(
            UserID: association.callingAETitle, AlternativeUserID: nil, UserName: nil, UserIsRequestor: true,
            NetworkAccessPointID: association.peer, NetworkAccessPointTypeCode: "2", RoleIDCode: [AuditCode.sourceRole])
        return message(
            AuditCode.beginTransferring, action: "E", outcome: "0", description: nil,
            participants: [peer, participant(requestor: false, role: AuditCode.destinationRole)], objects: nil)
    }

    private func securityAlert(_ association: AssociationInfo, reason: String) -> AuditMessage {
        var participants = [participant(requestor: false, role: nil)]
        participants.append(
            AuditMessage.ActiveParticipant(
                UserID: association.callingAETitle.isEmpty ? association.peer : association.callingAETitle,
                AlternativeUserID: nil, UserName: nil, UserIsRequestor: true, NetworkAccessPointID: association.peer,
                NetworkAccessPointTypeCode: "2", RoleIDCode: nil))
        let subject = AuditMessage.ParticipantObjectIdentification(
            ParticipantObjectID: "dicom://\(association.callingAETitle)@\(association.peer)",
            ParticipantObjectTypeCode: "2", ParticipantObjectTypeCodeRole: "13",
            ParticipantObjectIDTypeCode: AuditCode.nodeID, ParticipantObjectName: nil,
            ParticipantObjectDescription: nil, ParticipantObjectDetail: ["Alert Description": reason])
        var alert = message(
            AuditCode.securityAlert, action: "E", outcome: "4", description: reason,
            participants: participants, objects: [subject])
        alert.AuditMessage.EventIdentification.EventTypeCode = [AuditCode.nodeAuthentication]
        return alert
    }

    private func application(_ type: AuditMessage.Code) -> AuditMessage {
        var event = message(
            AuditCode.applicationActivity, action: "E", outcome: "0", description: nil,
            participants: [participant(requestor: false, role: AuditCode.application)], objects: nil)
        event.AuditMessage.EventIdentification.EventTypeCode = [type]
        return event
    }

    private func participant(requestor: Bool, role: AuditMessage.Code?) -> AuditMessage.ActiveParticipant {
        AuditMessage.ActiveParticipant(
            UserID: aeTitle, AlternativeUserID: String(getpid()), UserName: "mambanode",
            UserIsRequestor: requestor, NetworkAccessPointID: host,
            NetworkAccessPointTypeCode: "1", RoleIDCode: role.map { [$0] })
    }

    private func message(
        _ id: AuditMessage.Code, action: String, outcome: String, description: String?,
        participants: [AuditMessage.ActiveParticipant],
        objects: [AuditMessage.ParticipantObjectIdentification]?
    ) -> AuditMessage {
        AuditMessage(
            AuditMessage: .init(
                EventIdentification: .init(
                    EventActionCode: action, EventDateTime: Self.now(), EventOutcomeIndicator: outcome,
                    EventID: id, EventTypeCode: nil, EventOutcomeDescription: description),
                ActiveParticipant: participants,
                AuditSourceIdentification: .init(
                    AuditEnterpriseSiteID: nil, AuditSourceID: aeTitle,
                    AuditSourceTypeCode: AuditCode.applicationServer),
                ParticipantObjectIdentification: objects))
    }

    /// Study participants (with their SOP classes and counts), then patient participants.
    static func objects(
        studies: [String: [String: Int]], patients: Set<String>
    ) -> [AuditMessage.ParticipantObjectIdentification] {
        let studyObjects = studies.keys.sorted().map { uid in
            AuditMessage.ParticipantObjectIdentification(
                ParticipantObjectID: uid, ParticipantObjectTypeCode: "2", ParticipantObjectTypeCodeRole: "3",
                ParticipantObjectIDTypeCode: AuditCode.studyInstanceUID, ParticipantObjectName: nil,
                ParticipantObjectDescription: .init(
                    SOPClass: studies[uid]!.sorted { $0.key < $1.key }.map {
                        AuditMessage.SOPClass(UID: $0.key, NumberOfInstances: $0.value)
                    }), ParticipantObjectDetail: nil)
        }
        let patientObjects = patients.sorted().map { id in
            AuditMessage.ParticipantObjectIdentification(
                ParticipantObjectID: id, ParticipantObjectTypeCode: "1", ParticipantObjectTypeCodeRole: "1",
                ParticipantObjectIDTypeCode: AuditCode.patientNumber, ParticipantObjectName: nil,
                ParticipantObjectDescription: nil, ParticipantObjectDetail: nil)
        }
        return studyObjects + patientObjects
    }

    static func accessPointType(_ host: String) -> String { AddressRange(host) == nil ? "1" : "2" }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }

    // MARK: - Output

    private func write(_ message: AuditMessage) {
        let line: String
        do { line = try message.line() } catch {
            logger.error("audit message not encodable", metadata: ["error": "\(error)"])
            return
        }
        let bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                // The event itself is in the ordinary log; what failed here is the trail.
                logger.error(
                    "audit file write failed",
                    metadata: ["file": "\(path)", "error": "\(String(cString: strerror(errno)))"])
                return
            }
            written += n
        }
        fsync(descriptor)
        syslog?.send(line)
    }
}
