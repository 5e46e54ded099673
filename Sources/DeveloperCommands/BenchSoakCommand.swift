import ArgumentParser
import DICOM
import DICOMNetwork
import Foundation
import SampleGenerator
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode bench soak`: the DICOM listener under what a hospital network throws at it, for
/// minutes: bare TCP connects closed with FIN or RST (health checks, port scans), A-ASSOCIATE-RQs
/// cut off half-way, associations from calling AE titles that are not allowed, and valid
/// associations storing instances, interleaved from several threads against `mambanode receive`.
/// Prints what was done, what failed, and the receiver's resident memory at start, after a
/// warm-up and at the end. A benchmark: it reports, it does not judge.
public struct BenchSoakCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Hostile and valid connections interleaved against the listener; RSS over time."
    )

    @Option(help: "How long to run, in minutes (fractions allowed).")
    var minutes = 10.0

    @Option(help: "Concurrent client threads.")
    var threads = 4

    public func validate() throws {
        if !(minutes > 0 && minutes <= 24 * 60) { throw ValidationError("--minutes must be in (0, 1440]") }
        if threads < 1 || threads > 32 { throw ValidationError("--threads must be 1…32") }
    }

    /// What one client does in one step.
    enum Action: String, CaseIterable {
        case bareClose = "bare connect, FIN"
        case bareReset = "bare connect, RST"
        case halfRequest = "half A-ASSOCIATE-RQ"
        case rejectedAE = "calling AE not allowed"
        case store = "association storing instances"
    }

    /// Counters shared by the client threads.
    final class Tally: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        /// The receiver's RSS once the warm-up has passed (KiB), taken by the first client to see it.
        let warmRSS = Mutex<Int?>(nil)
        func add(_ key: String, _ n: Int = 1) { counts.withLock { $0[key, default: 0] += n } }
        var snapshot: [String: Int] { counts.withLock { $0 } }
    }

    public func run() async throws {
        let work = FileManager.default.temporaryDirectory.path + "/mambanode-soak-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var generator = SeriesGenerator()
        generator.rows = 64
        generator.columns = 64
        generator.slices = 4
        let files = try generator.write(to: work + "/series").files

        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let port = try Self.freePort()
        let store = work + "/store"
        // A short ACSE timeout, so that half-sent requests hold the listener for at most 2 s each.
        let receiver = try Child(
            me,
            [
                "receive", "--port", "\(port)", "--store", store, "--allow", "SOAK",
                "--max-associations", "16", "--acse-timeout", "2"
            ])
        defer { receiver.kill() }
        try await BenchIngestCommand.waitForEcho(port: port, callingAE: "SOAK")
        let rssStart = Self.residentKiB(receiver.processIdentifier)

        let tally = Tally()
        let destination = Destination(aeTitle: try AETitle("MAMBANODE"), host: "127.0.0.1", port: port)
        let deadline = Date().addingTimeInterval(minutes * 60)
        let warmUp = Date().addingTimeInterval(min(30, minutes * 60 / 4))
        let threads = self.threads
        print(
            String(
                format: "soak: %.1f min, %d threads, mambanode receive on port %d (pid %d)",
                minutes, threads, port, receiver.processIdentifier))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for thread in 0..<threads {
                group.addTask {
                    var step = thread
                    while Date() < deadline, receiver.isRunning {
                        let action = Action.allCases[step % Action.allCases.count]
                        step += 1
                        await Self.perform(action, port: port, destination: destination, files: files, tally: tally)
                        if Date() > warmUp, tally.warmRSS.withLock({ $0 == nil }) {
                            let rss = Self.residentKiB(receiver.processIdentifier)
                            tally.warmRSS.withLock { $0 = $0 ?? rss }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let alive = receiver.isRunning
        let rssEnd = Self.residentKiB(receiver.processIdentifier)
        let counts = tally.snapshot
        func row(_ label: String, _ value: Int) {
            print("  " + label.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%9d", value))
        }
        for action in Action.allCases { row(action.rawValue, counts[action.rawValue] ?? 0) }
        row("connections handled", Action.allCases.reduce(0) { $0 + (counts[$1.rawValue] ?? 0) })
        row("instances stored", counts["stored"] ?? 0)
        let errors = counts.filter { $0.key.hasPrefix("error") }
        row("errors", errors.values.reduce(0, +))
        for (key, n) in errors.sorted(by: { $0.key < $1.key }) { print("    \(n) × \(key)") }
        func mib(_ kib: Int?) -> String { kib.map { String(format: "%.1f MiB", Double($0) / 1024) } ?? "n/a" }
        let warm = tally.warmRSS.withLock { $0 }
        print(
            "  receiver RSS: start \(mib(rssStart)), after warm-up \(mib(warm)), end \(mib(rssEnd))"
                + (warm.flatMap { w in
                    rssEnd.map { String(format: " (%+.1f %% since warm-up)", 100 * Double($0 - w) / Double(w)) }
                } ?? ""))
        print("  receiver " + (alive ? "alive at the end" : "DIED (exit status \(await receiver.wait()))"))
    }

    static func perform(_ action: Action, port: UInt16, destination: Destination, files: [String], tally: Tally) async {
        switch action {
        case .bareClose, .bareReset:
            guard let socket = RawConnection(port: port) else { return tally.add("error: connect failed") }
            socket.close(reset: action == .bareReset)
        case .halfRequest:
            guard let socket = RawConnection(port: port) else { return tally.add("error: connect failed") }
            // The first 40 bytes of an A-ASSOCIATE-RQ (PS3.8 9.3.2): a header announcing more.
            var bytes: [UInt8] = [0x01, 0x00, 0x00, 0x00, 0x00, 0xCD, 0x00, 0x01, 0x00, 0x00]
            bytes += Array("MAMBANODE       SOAK            ".utf8) // called and calling AE, 16 bytes each
            socket.send(Array(bytes.prefix(40)))
            socket.close(reset: Bool.random())
        case .rejectedAE:
            do {
                try await StorageClient(configuration: .init(callingAETitle: try AETitle("INTRUDER"))).echo(destination)
                tally.add("error: association from INTRUDER accepted")
            } catch {
                // Refused, as it must be.
            }
        case .store:
            guard let title = try? AETitle("SOAK") else { return }
            let outcomes = await StorageClient(configuration: .init(callingAETitle: title)).send(files, to: destination)
            let stored = outcomes.filter(\.isStored).count
            tally.add("stored", stored)
            if stored != files.count {
                let reason = outcomes.first { !$0.isStored }?.error.map { "\($0.code)" } ?? "status"
                tally.add("error: C-STORE failed (\(reason))")
            }
        }
        tally.add(action.rawValue)
    }

    /// A loopback port the kernel just handed out (bound to port 0, read back, closed): a random
    /// port can collide with the ephemeral ports of the thousands of connections made here.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("socket() failed") }
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw ValidationError("no free loopback port") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// VmRSS of a process, in KiB, from /proc.
    static func residentKiB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "")
        }
        return nil
    }
}

/// A TCP connection to 127.0.0.1 that speaks no protocol: for probing a listener.
struct RawConnection {
    private let descriptor: Int32

    init?(port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            Glibc.close(fd)
            return nil
        }
        descriptor = fd
    }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Closes with FIN, or with RST (SO_LINGER with a zero timeout) as a reset connection does.
    func close(reset: Bool) {
        if reset {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        Glibc.close(descriptor)
    }
}
