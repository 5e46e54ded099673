import DICOM
import DICOMNetwork
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Sends audit messages to a syslog receiver as RFC 5424 messages over TCP, or over TLS (RFC
/// 5425) when the target has TLS settings, framed by octet counting (RFC 6587 3.4.1, the
/// framing RFC 5425 prescribes): `LEN SP <85>1 TIMESTAMP HOST mambanode PID audit - MSG`.
/// Facility 10 (security/authorization) and severity 5 (notice) give PRI 85, as IHE ATNA asks
/// for audit records. A failed send drops that copy (the audit file is the record), logs why
/// (no message content) and reconnects for the next message.
final class SyslogForwarder: Sendable {
    let target: NodeConfiguration.SyslogTarget
    let hostname: String
    let logger: Logger

    /// The open connection, if any.
    private enum Connection {
        case none
        case tcp(Int32)
        case tls(TLSStream)
    }

    private let connection = Mutex<Connection>(.none)

    init(target: NodeConfiguration.SyslogTarget, hostname: String, logger: Logger) {
        self.target = target
        self.hostname = hostname.isEmpty ? "-" : hostname
        self.logger = logger
    }

    deinit { connection.withLock { if case .tcp(let fd) = $0 { close(fd) } } }

    /// The RFC 5424 message for one audit line (no framing).
    func format(_ message: String, at date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return "<85>1 \(formatter.string(from: date)) \(hostname) mambanode \(getpid()) audit - \(message)"
    }

    func send(_ message: String) {
        let payload = Array(format(message).utf8)
        let frame = Array("\(payload.count) ".utf8) + payload
        connection.withLock { connection in
            var failure = "cannot connect"
            for _ in 0..<2 {
                if case .none = connection {
                    do throws(DICOMError) { connection = try open() } catch {
                        failure = error.message
                        break
                    }
                }
                switch connection {
                case .none:
                    break
                case .tcp(let fd):
                    if writeAll(fd, frame) { return }
                    close(fd)
                    failure = "connection lost"
                case .tls(let stream):
                    do throws(DICOMError) {
                        try stream.write(frame)
                        return
                    } catch {
                        failure = error.message
                    }
                }
                connection = .none
            }
            logger.warning(
                "audit message not delivered to syslog",
                metadata: ["receiver": "\(target.host):\(target.port)", "reason": "\(failure)"])
        }
    }

    private func open() throws(DICOMError) -> Connection {
        if let tls = target.tls {
            return .tls(try TLSStream(host: target.host, port: target.port, tls: tls, timeoutSeconds: 10))
        }
        let fd = connectToReceiver()
        guard fd >= 0 else { throw DICOMError(.network, "cannot connect") }
        return .tcp(fd)
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
