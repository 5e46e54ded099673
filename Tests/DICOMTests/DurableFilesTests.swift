import DICOM
import Foundation
import TestSupport
import Testing

/// DurableFiles: fsync of written files and their directories, and a typed error naming the
/// path when one cannot be made durable.
@Suite struct DurableFilesTests {
    @Test func writtenFilesAndTheirDirectoriesAreSynced() throws {
        let directory = TemporaryDirectory("durable")
        let file = directory.file("result.dcm")
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: file))
        try DurableFiles.sync(files: [file], directories: [directory.path])
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)).count == 4096)
    }

    @Test func aFileThatIsNotThereIsNamed() throws {
        let directory = TemporaryDirectory("durable")
        let missing = directory.file("gone.dcm")
        #expect {
            try DurableFiles.sync(files: [missing], directories: [directory.path])
        } throws: { error in
            guard let error = error as? DICOMError else { return false }
            return error.code == .io && error.path == missing
        }
        // A file where a directory is expected is refused too (O_DIRECTORY).
        try Data([1]).write(to: URL(fileURLWithPath: directory.file("plain")))
        #expect(throws: DICOMError.self) {
            try DurableFiles.sync(files: [], directories: [directory.file("plain")])
        }
    }
}
