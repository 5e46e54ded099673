import DICOM
import DICOMNetwork
import Foundation
import Logging
import SampleGenerator
import TestSupport
import Testing

@testable import Node

/// The audit trail on its own: outbound transfers through the sender, and the
/// syslog copy to a real TCP receiver on loopback.
@Suite struct AuditTrailTests {
    let directory = TemporaryDirectory("audit")

    /// Every line of the audit file, parsed; a line that is not one JSON object fails the test.
    static func messages(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try #require(object?["AuditMessage"] as? [String: Any], "not an audit message: \(line)")
        }
    }

    static func eventID(_ message: [String: Any]) -> String? {
        ((message["EventIdentification"] as? [String: Any])?["EventID"] as? [String: Any])?["csd-code"] as? String
    }

    static func event(_ message: [String: Any], _ key: String) -> String? {
        (message["EventIdentification"] as? [String: Any])?[key] as? String
    }

    static func objectIDs(_ message: [String: Any]) -> [String] {
        (message["ParticipantObjectIdentification"] as? [[String: Any]] ?? []).compactMap {
            $0["ParticipantObjectID"] as? String
        }
    }

    @Test func deliveryIsOneInstancesTransferredMessageWithStudyAndPatient() async throws {
        var generator = SeriesGenerator()
        generator.rows = 8
        generator.columns = 8
        generator.slices = 2
        generator.patientID = "PID-42"
        let written = try generator.write(to: try directory.subdirectory("results"))
        let configuration = try NodeConfiguration.parse(
            """
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
            sending: { first_retry: 30s, max_retry: 10m, give_up: 1h, jitter: 0 }
            """)
        let store = NodeStore(database: try NodeDatabase(path: directory.file("n.sqlite")), router: Router(routes: []))
        try store.enqueue(
            objects: written.files.enumerated().map { ($1, "1.2.\($0)") }, destinations: ["pacs"], jobID: nil,
            correlationID: "c", now: Date())
        let pacs = FakePACS()
        await pacs.refuse([written.files[1]])
        let audit = try AuditTrail(
            path: directory.file("audit.jsonl"), aeTitle: "MAMBANODE", syslog: nil,
            logger: Logger(label: "test"))
        let sender = Sender(
            store: store, configuration: configuration, transport: pacs, logger: Logger(label: "test"),
            audit: audit)
        #expect(try await sender.sendDue(now: Date()) == 2)

        let messages = try Self.messages(directory.file("audit.jsonl"))
        #expect(messages.count == 1)
        let sent = try #require(messages.first)
        #expect(Self.eventID(sent) == "110104")
        #expect(Self.event(sent, "EventActionCode") == "R")
        #expect(Self.event(sent, "EventOutcomeIndicator") == "4", "one of two was refused: a minor failure")
        #expect(Self.objectIDs(sent) == [written.studyInstanceUID, "PID-42"])
        let roles = (sent["ActiveParticipant"] as? [[String: Any]] ?? []).map {
            ($0["UserID"] as? String, $0["UserIsRequestor"] as? Bool)
        }
        #expect(roles.map(\.0) == ["MAMBANODE", "PACS"] && roles.map(\.1) == [true, false])
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.file("audit.jsonl"))
        #expect(attributes[.posixPermissions] as? Int == 0o600)
    }

    /// A syslog receiver in Python on a free loopback port: reads one octet-counted frame into
    /// `output`; with `certificate` it is an RFC 5425 receiver (TLS 1.2+) and writes
    /// "handshake failed" instead when the client gives up on its certificate.
    static let receiverScript = """
        import socket, ssl, sys
        port, output = int(sys.argv[1]), sys.argv[2]
        server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port)); server.listen(1); server.settimeout(60)
        connection, _ = server.accept(); connection.settimeout(60)
        if len(sys.argv) > 3:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(sys.argv[3], sys.argv[4])
            try:
                connection = context.wrap_socket(connection, server_side=True)
            except (ssl.SSLError, OSError):
                open(output, "w").write("handshake failed"); sys.exit(3)
        data = b""
        while b" " not in data: data += connection.recv(4096)
        length, rest = data.split(b" ", 1)
        while len(rest) < int(length): rest += connection.recv(4096)
        open(output, "wb").write(length + b" " + rest)
        """

    /// The syslog copy over TLS (RFC 5425) to a receiver presenting a certificate from the trusted
    /// CA for 127.0.0.1, and none to a receiver whose certificate names another host.
    @Test func messagesAreCopiedToSyslogOverTLSOnlyToTheRightHost() async throws {
        let pki = try TestPKI(in: try directory.subdirectory("pki"))
        let trustCA = TLSConfiguration(trustedCAFile: pki.certificate("ca"), verifyPeer: true)
        for (name, delivered) in [("server", true), ("wronghost", false)] {
            let port = FreePort.allocate()
            let received = directory.file("syslog-\(name).txt")
            let receiver = try ChildProcess(
                "python3",
                [
                    "-c", Self.receiverScript, "\(port)", received,
                    pki.certificate(name), pki.key(name)
                ], logDirectory: directory.path)
            #expect(await waitUntil { FreePort.isListening(port) })
            let audit = try AuditTrail(
                path: directory.file("audit-\(name).jsonl"), aeTitle: "MAMBANODE",
                syslog: .init(host: "127.0.0.1", port: port, tls: trustCA), logger: Logger(label: "test"))
            await audit.applicationStarted()
            #expect(await receiver.wait() == (delivered ? 0 : 3), "\(receiver.standardError)")
            let frame = try String(contentsOfFile: received, encoding: .utf8)
            if delivered {
                let line = try String(contentsOfFile: directory.file("audit-\(name).jsonl"), encoding: .utf8)
                    .trimmingCharacters(in: .newlines)
                #expect(frame.hasPrefix("\(frame.utf8.count - frame.split(separator: " ")[0].utf8.count - 1) <85>1 "))
                #expect(frame.hasSuffix(" - " + line), "the TLS copy carries the audit file's line")
            } else {
                #expect(
                    frame == "handshake failed", "nothing is sent to a receiver whose certificate names another host")
                #expect(
                    try String(contentsOfFile: directory.file("audit-\(name).jsonl"), encoding: .utf8).contains(
                        "110120"),
                    "the audit file still holds the message")
            }
        }
    }

    /// A receiver written in Python on a free loopback port reads one octet-counted frame.
    @Test func messagesAreCopiedToSyslogAsRFC5424() async throws {
        let port = FreePort.allocate()
        let received = directory.file("syslog.txt")
        let script = """
            import socket, sys
            server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", int(sys.argv[1]))); server.listen(1); server.settimeout(60)
            connection, _ = server.accept(); data = b""
            while b" " not in data: data += connection.recv(4096)
            length, rest = data.split(b" ", 1)
            while len(rest) < int(length): rest += connection.recv(4096)
            open(sys.argv[2], "wb").write(length + b" " + rest)
            """
        let receiver = try ChildProcess("python3", ["-c", script, "\(port)", received], logDirectory: directory.path)
        #expect(await waitUntil { FreePort.isListening(port) })
        let audit = try AuditTrail(
            path: directory.file("audit.jsonl"), aeTitle: "MAMBANODE",
            syslog: .init(host: "127.0.0.1", port: port), logger: Logger(label: "test"))
        await audit.applicationStarted()
        #expect(await receiver.wait() == 0, "\(receiver.standardError)")
        let frame = try String(contentsOfFile: received, encoding: .utf8)
        let parts = frame.split(separator: " ", maxSplits: 7)
        #expect(Int(parts[0]) == frame.utf8.count - parts[0].utf8.count - 1, "octet counting")
        #expect(parts[1] == "<85>1", "facility 10 (security), severity 5 (notice), RFC 5424 version 1")
        #expect(parts[4] == "mambanode" && parts[6] == "audit", "APP-NAME and MSGID")
        let line = try String(contentsOfFile: directory.file("audit.jsonl"), encoding: .utf8)
            .trimmingCharacters(in: .newlines)
        #expect(frame.hasSuffix(" - " + line), "the syslog copy carries the audit file's line")
        #expect(line.contains("\"110120\""), "Application Start")
    }
}
