#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is a
/// network of one. Used by the source-address allow-lists, globally (`node.allowed_sources`) and
/// per route (`routes[].allowed_sources`).
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, already masked to `prefixLength`.
    let network: [UInt8]
    public let prefixLength: Int

    /// Parses `ADDRESS[/PREFIX]`; nil when it is not one.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let bytes = Self.bytes(String(parts[0])) else { return nil }
        let prefix: Int
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...(bytes.count * 8)).contains(value) else { return nil }
            prefix = value
        } else {
            prefix = bytes.count * 8
        }
        prefixLength = prefix
        network = Self.masked(bytes, prefix)
    }

    /// Whether `address` (text, as DCMTK reports the peer) lies in this network. An IPv4 peer
    /// seen through an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) counts as IPv4.
    public func contains(_ address: String) -> Bool {
        guard var bytes = Self.bytes(address) else { return false }
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF,
            bytes[11] == 0xFF
        {
            bytes = Array(bytes[12...])
        }
        return bytes.count == network.count && Self.masked(bytes, prefixLength) == network
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = network.withUnsafeBytes { raw in
            inet_ntop(network.count == 4 ? AF_INET : AF_INET6, raw.baseAddress, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            + "/\(prefixLength)"
    }

    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, prefix - index * 8))
            return bits == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
    }
}

extension Array where Element == AddressRange {
    /// An empty list allows every address (no allow-list configured).
    public func allows(_ address: String) -> Bool { isEmpty || contains { $0.contains(address) } }
}
