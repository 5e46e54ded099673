import DICOM
import DICOMNetwork
import Foundation
import Testing

/// The Conformance Statement must match the code: every SOP class and transfer syntax
/// it lists is what the storage SCP accepts, and nothing the SCP accepts is missing from it.
@Suite struct ConformanceStatementTests {
    static let statementPath =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/Conformance/ConformanceStatement.md"

    /// The UIDs in the table between the BEGIN/END markers named `section`, in document order.
    static func uids(in section: String) throws -> [String] {
        let text = try String(contentsOfFile: statementPath, encoding: .utf8)
        guard let begin = text.range(of: "<!-- BEGIN \(section)"), let end = text.range(of: "<!-- END \(section)")
        else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return text[begin.upperBound..<end.lowerBound].split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            return cells.count >= 2 && UID.isValid(cells[1]) ? cells[1] : nil
        }
    }

    @Test func sopClassesMatchTheSCP() throws {
        let listed = try Self.uids(in: "SOP CLASSES")
        #expect(listed.first == "1.2.840.10008.1.1", "Verification first")
        #expect(Set(listed.dropFirst()) == Set(StorageServer.acceptedSOPClasses))
        #expect(listed.count == Set(listed).count, "no SOP class listed twice")
        for required in [
            "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4",
            "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.88.34"
        ] {
            #expect(listed.contains(required), "\(required) (\(UID.name(of: required) ?? "?")) must be accepted")
        }
    }

    @Test func transferSyntaxesMatchTheSCPInOrder() throws {
        #expect(try Self.uids(in: "TRANSFER SYNTAXES") == StorageServer.acceptedTransferSyntaxes)
        // Everything the decoder handles is accepted, so a modality never has to decompress.
        #expect(Set(StorageServer.acceptedTransferSyntaxes) == Set(TransferSyntax.supported.map(\.uid)))
    }
}
