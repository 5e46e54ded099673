import Foundation

/// One DICOM audit message (PS3.15 A.5.1, the schema derived from RFC 3881), with the schema's
/// element and attribute names as JSON keys:
///
/// ```json
/// {"AuditMessage":{"EventIdentification":{"EventActionCode":"C","EventDateTime":"…","EventOutcomeIndicator":"0",
///   "EventID":{"csd-code":"110104","codeSystemName":"DCM","originalText":"DICOM Instances Transferred"}},
///  "ActiveParticipant":[…],"AuditSourceIdentification":{…},"ParticipantObjectIdentification":[…]}}
/// ```
///
/// Why JSON and not the schema's XML: the trail is one message per line, and JSON's escaping
/// keeps any value (an AE title, a reason) on its line, so every line parses on its own with
/// any JSON reader; the structure and codes are the schema's, so converting to XML for an ATNA
/// repository is mechanical. The syslog copy carries the same line.
public struct AuditMessage: Codable, Sendable, Equatable {
    /// A coded value as the schema writes it (attributes csd-code, codeSystemName, originalText).
    public struct Code: Codable, Sendable, Equatable {
        public var code: String
        public var codeSystemName: String
        public var originalText: String

        enum CodingKeys: String, CodingKey {
            case code = "csd-code", codeSystemName, originalText
        }

        public init(_ code: String, _ system: String, _ text: String) {
            self.code = code
            codeSystemName = system
            originalText = text
        }

        static func dcm(_ code: String, _ text: String) -> Code { Code(code, "DCM", text) }
    }

    public struct EventIdentification: Codable, Sendable, Equatable {
        /// C create, R read, U update, D delete, E execute.
        public var EventActionCode: String
        public var EventDateTime: String
        /// 0 success, 4 minor failure, 8 serious failure, 12 major failure.
        public var EventOutcomeIndicator: String
        public var EventID: Code
        public var EventTypeCode: [Code]?
        public var EventOutcomeDescription: String?
    }

    public struct ActiveParticipant: Codable, Sendable, Equatable {
        public var UserID: String
        public var AlternativeUserID: String?
        public var UserName: String?
        public var UserIsRequestor: Bool
        public var NetworkAccessPointID: String?
        /// 1 machine name, 2 IP address.
        public var NetworkAccessPointTypeCode: String?
        public var RoleIDCode: [Code]?
    }

    public struct AuditSourceIdentification: Codable, Sendable, Equatable {
        public var AuditEnterpriseSiteID: String?
        public var AuditSourceID: String
        public var AuditSourceTypeCode: Code?
    }

    /// SOP classes and instance counts of a study participant (PS3.15 A.5.2.4 ParticipantObjectDescription).
    public struct SOPClass: Codable, Sendable, Equatable {
        public var UID: String
        public var NumberOfInstances: Int
    }

    public struct ParticipantObjectDescription: Codable, Sendable, Equatable {
        public var SOPClass: [SOPClass]?
    }

    public struct ParticipantObjectIdentification: Codable, Sendable, Equatable {
        public var ParticipantObjectID: String
        /// 1 person, 2 system object.
        public var ParticipantObjectTypeCode: String
        /// 1 patient, 3 report, 13 security resource.
        public var ParticipantObjectTypeCodeRole: String
        public var ParticipantObjectIDTypeCode: Code
        public var ParticipantObjectName: String?
        public var ParticipantObjectDescription: ParticipantObjectDescription?
        public var ParticipantObjectDetail: [String: String]?
    }

    public struct Body: Codable, Sendable, Equatable {
        public var EventIdentification: EventIdentification
        public var ActiveParticipant: [ActiveParticipant]
        public var AuditSourceIdentification: AuditSourceIdentification
        public var ParticipantObjectIdentification: [ParticipantObjectIdentification]?
    }

    public var AuditMessage: Body

    /// The message as one line of JSON (no trailing newline).
    public func line() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// The codes of PS3.16 (DCM) and RFC 3881 the node's messages use (PS3.15 A.5.3).
enum AuditCode {
    static let applicationActivity = AuditMessage.Code.dcm("110100", "Application Activity")
    static let beginTransferring = AuditMessage.Code.dcm("110102", "Begin Transferring DICOM Instances")
    static let instancesTransferred = AuditMessage.Code.dcm("110104", "DICOM Instances Transferred")
    static let securityAlert = AuditMessage.Code.dcm("110113", "Security Alert")
    static let applicationStart = AuditMessage.Code.dcm("110120", "Application Start")
    static let applicationStop = AuditMessage.Code.dcm("110121", "Application Stop")
    static let nodeAuthentication = AuditMessage.Code.dcm("110126", "Node Authentication")
    static let application = AuditMessage.Code.dcm("110150", "Application")
    static let destinationRole = AuditMessage.Code.dcm("110152", "Destination Role ID")
    static let sourceRole = AuditMessage.Code.dcm("110153", "Source Role ID")
    static let studyInstanceUID = AuditMessage.Code.dcm("110180", "Study Instance UID")
    static let patientNumber = AuditMessage.Code("2", "RFC-3881", "Patient Number")
    static let nodeID = AuditMessage.Code("12", "RFC-3881", "URI")
    static let applicationServer = AuditMessage.Code("4", "RFC-3881", "Application Server")
}
