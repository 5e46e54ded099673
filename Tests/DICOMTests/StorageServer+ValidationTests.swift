import DICOM
import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// The values the storage SCP checks before a received UID becomes a file name.
@Suite struct StorageServerValidationTests {
    @Test(arguments: ["1.2.840.10008.1.2", "0", "1.0.3", "2.25.329800735698586629295641978511506172918"])
    func acceptsValidUIDs(_ uid: String) {
        #expect(UIDValidation.problem(in: uid) == nil)
    }

    @Test(arguments: [
        ("", "empty"), ("1..2", "empty component"), ("1.2.", "empty component"), (".1", "empty component"),
        ("1.02", "leading zero"), ("1.2.3a", "character other than a digit"), ("../etc/passwd", "empty component"),
        ("1.2/../3", "character other"),
        ("1/2", "character other"), (String(repeating: "1.", count: 32) + "1", "longer than 64")
    ])
    func rejectsInvalidUIDs(_ uid: String, _ reason: String) throws {
        let problem = try #require(UIDValidation.problem(in: uid))
        #expect(problem.contains(reason))
        #expect(throws: DICOMError.self) { try UIDValidation.validate(uid, tag: .sopInstanceUID) }
    }

    @Test func aeTitlesAreTrimmedAndChecked() throws {
        #expect(try AETitle("  CT01 ").value == "CT01")
        for bad in ["", "    ", "SEVENTEEN_CHARS_X", "A\\B", "TAB\t"] {
            #expect(throws: DICOMError.self) { try AETitle(bad) }
        }
    }

    @Test func destinationParsesAEHostPort() throws {
        let destination = try Destination(parsing: "PACS@10.0.0.5:104")
        #expect(destination == Destination(aeTitle: try AETitle("PACS"), host: "10.0.0.5", port: 104))
        for bad in ["PACS", "PACS@host", "@host:104", "PACS@:104", "PACS@host:0", "PACS@host:99999"] {
            #expect(throws: DICOMError.self) { try Destination(parsing: bad) }
        }
    }

    @Test func storeCommitsOnceAndRefusesInvalidUIDs() throws {
        let dir = TemporaryDirectory("store")
        let store = try InstanceStore(directory: dir.path + "/store")
        func incoming(_ name: String) throws -> String {
            let path = store.incomingDirectory + "/" + name
            try Data("DICM".utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        let first = try store.commit(temporaryFile: try incoming("1.part"), sopInstanceUID: "1.2.3")
        #expect(first.path == store.path(for: "1.2.3") && !first.isDuplicate)
        let second = try store.commit(temporaryFile: try incoming("2.part"), sopInstanceUID: "1.2.3")
        #expect(second.isDuplicate)
        let error = try #require(throws: DICOMError.self) {
            try store.commit(temporaryFile: try incoming("3.part"), sopInstanceUID: "../1.2.3")
        }
        #expect(error.code == .badValue && error.tag == .sopInstanceUID)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.incomingDirectory).isEmpty)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: store.directory).sorted() == [".incoming", "1.2.3.dcm"])
    }

    @Test func openingTheStoreRemovesUnacknowledgedLeftovers() throws {
        let dir = TemporaryDirectory("leftovers")
        let store = try InstanceStore(directory: dir.path)
        try Data([1]).write(to: URL(fileURLWithPath: store.incomingDirectory + "/7-1.part"))
        _ = try InstanceStore(directory: dir.path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.incomingDirectory).isEmpty)
    }
}
