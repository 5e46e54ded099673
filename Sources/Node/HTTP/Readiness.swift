import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The checks behind `/ready`: the store directory is writable, the database
/// answers, and free disk space is above the configured threshold.
enum Readiness {
    static func check(_ configuration: NodeConfiguration, store: any NodeStateStore) async -> HTTPAPI.Readiness {
        var problems: [String] = []
        let directory = configuration.storage.directory
        let probe = directory + "/.ready-probe-\(getpid())"
        if FileManager.default.createFile(atPath: probe, contents: Data()) {
            try? FileManager.default.removeItem(atPath: probe)
        } else {
            problems.append("store directory \(directory) is not writable")
        }
        do { _ = try await store.counts() } catch { problems.append("database not readable: \(error)") }
        if let free = freeBytes(at: directory), free < configuration.storage.minimumFreeBytes {
            problems.append(
                "free disk \(free >> 20) MiB is below the threshold \(configuration.storage.minimumFreeBytes >> 20) MiB"
            )
        }
        return HTTPAPI.Readiness(problems: problems)
    }

    /// Bytes available to an unprivileged writer on the file system holding `path`.
    static func freeBytes(at path: String) -> UInt64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
    }
}
