import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Loopback TCP ports for test peers.
public enum FreePort {
    /// A port the kernel just handed out for 127.0.0.1 (bound to port 0, read back, closed).
    /// Another process could take it before the caller binds it; on loopback that is rare.
    public static func allocate() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0, "socket() failed")
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        precondition(bound, "bind/getsockname failed")
        return UInt16(bigEndian: address.sin_port)
    }

    /// True when a socket listens on `port`. On Linux this reads /proc/net/tcp{,6} instead of
    /// connecting, so that probing does not show up as a failed association in the server's events.
    public static func isListening(_ port: UInt16) -> Bool {
        #if os(Linux)
            let hexPort = String(format: ":%04X ", port)
            for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
                guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
                for line in text.split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ")
                    // fields: sl, local_address, rem_address, st (0A = LISTEN), ...
                    if fields.count > 3, fields[1].hasSuffix(hexPort.dropLast()), fields[3] == "0A" { return true }
                }
            }
            return false
        #else
            return accepts(port)
        #endif
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    public static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass; returns whether it held.
/// For readiness only (a peer listening, a file appearing), never to assert durations.
public func waitUntil(seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
    let deadline = Date.timeIntervalSinceReferenceDate + seconds
    while Date.timeIntervalSinceReferenceDate < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
