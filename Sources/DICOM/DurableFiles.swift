#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Makes written files survive a power loss: `fsync(2)` of each file, then of each directory
/// that names one of them. A file that was only written sits in the page cache; on ext4 (delayed
/// allocation) it can come back empty after a power loss, while a database row that points at it
/// was committed with `synchronous = FULL`. The node's results are therefore made durable before
/// their outbox rows are committed (docs/architecture.md: every arrow that crosses a crash is a
/// row or a flushed file).
///
/// ```swift
/// try DurableFiles.sync(files: objects.map(\.path), directories: [jobDirectory, resultsDirectory])
/// ```
public enum DurableFiles {
    /// `files` first, then `directories` (those holding new entries: a new file's directory, and
    /// the parent of a new directory).
    public static func sync(files: [String], directories: [String]) throws(DICOMError) {
        for path in files { try sync(path, flags: O_RDONLY) }
        for path in directories { try sync(path, flags: O_RDONLY | O_DIRECTORY) }
    }

    private static func sync(_ path: String, flags: Int32) throws(DICOMError) {
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw InstanceStore.ioError("cannot open to make durable", errno: errno, path: path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw InstanceStore.ioError("fsync failed", errno: errno, path: path) }
    }
}
