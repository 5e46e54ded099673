#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The durable file store of received instances: one Part 10 file per SOP instance, named
/// `<SOP Instance UID>.dcm` in `directory`, written so that a file under its final name is always
/// complete, and on disk before it is acknowledged (docs/architecture.md, Data flow: the C-STORE
/// success response is sent only after ``flush()``).
///
/// Incoming files are streamed into `directory/.incoming` (same file system, so linking is
/// atomic). ``stage(temporaryFile:sopInstanceUID:)`` links the file to its final name (failing,
/// not replacing, when the name exists: a duplicate is stored once) and removes the temporary
/// name; ``flush()`` then makes everything staged durable with one `syncfs(2)` per file system,
/// so instances arriving together on several associations share one flush (the storage server
/// groups them). Leftovers of a crash in `.incoming` are deleted when the store is opened; they
/// were never acknowledged.
public final class InstanceStore: Sendable {
    /// Where committed instances live.
    public let directory: String
    /// Where the SCP streams instances before they are committed.
    public let incomingDirectory: String
    /// One directory per file system that ``flush()`` syncs: the store's, then those of the
    /// `alsoDurable` paths that live elsewhere (e.g. the node's database).
    public let flushedDirectories: [String]

    /// The outcome of a commit.
    public struct Commit: Sendable, Equatable {
        public var path: String
        /// True when an instance with this SOP Instance UID was already stored; the new copy was dropped.
        public var isDuplicate: Bool
    }

    /// Opens (creating when needed) the store at `directory`. ``flush()`` also syncs the file
    /// systems of `alsoDurable` (directories that exist), for state written with deferred
    /// durability next to the instances. `incomingName` is the incoming folder's name inside
    /// `directory`: each process sharing the store needs its own (its leftovers are deleted here).
    public init(directory: String, incomingName: String = ".incoming", alsoDurable: [String] = []) throws(DICOMError) {
        self.directory = directory
        incomingDirectory = directory + "/" + incomingName
        try Self.makeDirectory(directory)
        try Self.makeDirectory(incomingDirectory)
        try Self.removeLeftovers(in: incomingDirectory)
        var devices: [UInt64] = []
        var flushed: [String] = []
        for path in [directory] + alsoDurable {
            var info = stat()
            guard stat(path, &info) == 0 else { throw Self.ioError("cannot stat", errno: errno, path: path) }
            if !devices.contains(UInt64(info.st_dev)) {
                devices.append(UInt64(info.st_dev))
                flushed.append(path)
            }
        }
        flushedDirectories = flushed
    }

    /// The path an instance has (or will have) in the store. `sopInstanceUID` must be valid.
    public func path(for sopInstanceUID: String) -> String {
        directory + "/" + sopInstanceUID + ".dcm"
    }

    /// ``stage(temporaryFile:sopInstanceUID:)`` and ``flush()``: durable on return.
    public func commit(temporaryFile: String, sopInstanceUID: String) throws(DICOMError) -> Commit {
        let commit = try stage(temporaryFile: temporaryFile, sopInstanceUID: sopInstanceUID)
        try flush()
        return commit
    }

    /// Puts `temporaryFile` (inside `incomingDirectory`) under the name derived from
    /// `sopInstanceUID`, which is validated first (PS3.5 §9.1) because it becomes a file name.
    /// The temporary file is gone afterwards, whatever the outcome. Not yet durable: call
    /// ``flush()`` before acknowledging it.
    public func stage(temporaryFile: String, sopInstanceUID: String) throws(DICOMError) -> Commit {
        defer { unlink(temporaryFile) }
        try UIDValidation.validate(sopInstanceUID, tag: .sopInstanceUID)
        let final = path(for: sopInstanceUID)
        if link(temporaryFile, final) != 0 {
            let code = errno
            if code == EEXIST { return Commit(path: final, isDuplicate: true) }
            throw Self.ioError("cannot link into the store", errno: code, path: final)
        }
        return Commit(path: final, isDuplicate: false)
    }

    /// Makes every staged file (its data and its directory entry) and everything else written to
    /// the flushed file systems durable: one `syncfs(2)` per file system, which waits for the
    /// writes and reports a write-back error since the last one.
    public func flush() throws(DICOMError) {
        for directory in flushedDirectories { try Self.flushFileSystem(of: directory) }
    }

    /// `syncfs(2)` of the file system that holds `path`: every dirty page and pending metadata
    /// change of that file system is on disk when it returns.
    public static func flushFileSystem(of path: String) throws(DICOMError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ioError("cannot open for syncfs", errno: errno, path: path) }
        defer { close(fd) }
        if linuxSyncfs(fd) != 0 { throw ioError("syncfs failed", errno: errno, path: path) }
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

/// glibc's `syncfs(2)`, which its Swift module does not export (the header declares it only
/// under _GNU_SOURCE).
@_silgen_name("syncfs")
private func linuxSyncfs(_ fd: Int32) -> Int32
