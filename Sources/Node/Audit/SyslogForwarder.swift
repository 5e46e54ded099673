import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Sends audit messages to a syslog receiver as RFC 5424 messages over TCP, framed by octet
/// counting (RFC 6587 3.4.1, the framing RFC 5425 uses over TLS): `LEN SP <85>1 TIMESTAMP HOST
/// mambanode PID audit - MSG`. Facility 10 (security/authorization) and severity 5 (notice) give
/// PRI 85, as IHE ATNA asks for audit records. A failed send drops that copy (the audit file is
/// the record) and reconnects for the next message. Plain TCP only: TLS to the receiver (RFC
/// 5425) is not implemented yet.
final class SyslogForwarder: Sendable {
    let target: NodeConfiguration.SyslogTarget
    let hostname: String
    let logger: Logger
    private let socket = Mutex<Int32>(-1)

    init(target: NodeConfiguration.SyslogTarget, hostname: String, logger: Logger) {
        self.target = target
        self.hostname = hostname.isEmpty ? "-" : hostname
        self.logger = logger
    }

    deinit { socket.withLock { if $0 >= 0 { close($0) } } }

    /// The RFC 5424 message for one audit line (no framing).
    func format(_ message: String, at date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return "<85>1 \(formatter.string(from: date)) \(hostname) mambanode \(getpid()) audit - \(message)"
    }

    func send(_ message: String) {
        let payload = Array(format(message).utf8)
        let frame = Array("\(payload.count) ".utf8) + payload
        socket.withLock { fd in
            for attempt in 0..<2 {
                if fd < 0 { fd = connectToReceiver() }
                guard fd >= 0 else { break }
                if writeAll(fd, frame) { return }
                close(fd)
                fd = -1
                if attempt == 1 { break }
            }
            logger.warning("audit message not delivered to syslog", metadata: ["receiver": "\(target.host):\(target.port)"])
        }
    }

    private func connectToReceiver() -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target.host, String(target.port), &hints, &list) == 0, let list else { return -1 }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let info = entry {
            let fd = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
                close(fd)
            }
            entry = info.pointee.ai_next
        }
        return -1
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}
