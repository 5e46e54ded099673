#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The durable file store of received instances: one Part 10 file per SOP instance, named
/// `<SOP Instance UID>.dcm` in `directory`, written so that a file under its final name is always
/// complete and on disk (docs/architecture.md, Data flow: the C-STORE success response is sent
/// only after this).
///
/// Incoming files are streamed into `directory/.incoming` (same file system, so linking is
/// atomic). ``commit(temporaryFile:sopInstanceUID:)`` fsyncs the file, links it to its final
/// name (failing, not replacing, when the name exists: a duplicate is stored once), fsyncs the
/// directory and removes the temporary name. Leftovers of a crash in `.incoming` are deleted
/// when the store is opened; they were never acknowledged.
public final class InstanceStore: Sendable {
    /// Where committed instances live.
    public let directory: String
    /// Where the SCP streams instances before they are committed.
    public let incomingDirectory: String

    /// The outcome of a commit.
    public struct Commit: Sendable, Equatable {
        public var path: String
        /// True when an instance with this SOP Instance UID was already stored; the new copy was dropped.
        public var isDuplicate: Bool
    }

    /// Opens (creating when needed) the store at `directory`.
    public init(directory: String) throws(DICOMError) {
        self.directory = directory
        incomingDirectory = directory + "/.incoming"
        try Self.makeDirectory(directory)
        try Self.makeDirectory(incomingDirectory)
        try Self.removeLeftovers(in: incomingDirectory)
    }

    /// The path an instance has (or will have) in the store. `sopInstanceUID` must be valid.
    public func path(for sopInstanceUID: String) -> String {
        directory + "/" + sopInstanceUID + ".dcm"
    }

    /// Makes `temporaryFile` (inside `incomingDirectory`) durable under the name derived from
    /// `sopInstanceUID`, which is validated first (PS3.5 §9.1) because it becomes a file name.
    /// The temporary file is gone afterwards, whatever the outcome.
    public func commit(temporaryFile: String, sopInstanceUID: String) throws(DICOMError) -> Commit {
        defer { unlink(temporaryFile) }
        try UIDValidation.validate(sopInstanceUID, tag: .sopInstanceUID)
        try Self.fsyncFile(temporaryFile)
        let final = path(for: sopInstanceUID)
        if link(temporaryFile, final) != 0 {
            let code = errno
            if code == EEXIST { return Commit(path: final, isDuplicate: true) }
            throw Self.ioError("cannot link into the store", errno: code, path: final)
        }
        try Self.fsyncFile(directory)
        return Commit(path: final, isDuplicate: false)
    }

    private static func fsyncFile(_ path: String) throws(DICOMError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ioError("cannot open for fsync", errno: errno, path: path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw ioError("fsync failed", errno: errno, path: path) }
    }

    private static func makeDirectory(_ path: String) throws(DICOMError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw ioError("cannot create directory", errno: errno, path: path)
        }
    }

    private static func removeLeftovers(in path: String) throws(DICOMError) {
        guard let dir = opendir(path) else { throw ioError("cannot list", errno: errno, path: path) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasSuffix(".part") { unlink(path + "/" + name) }
        }
    }

    static func ioError(_ what: String, errno code: Int32, path: String) -> DICOMError {
        DICOMError(.io, "\(what): \(String(cString: strerror(code)))", path: path)
    }
}
