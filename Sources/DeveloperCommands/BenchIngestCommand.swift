import ArgumentParser
import DICOM
import Foundation
import SampleGenerator

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode bench ingest`: pushes a synthetic CT series with DCMTK's `storescu` into DCMTK's
/// `storescp` and into `mambanode receive` (which flushes every instance to disk before
/// answering, instances arriving together sharing a flush), in the same run, and prints images/s
/// for both, their ratio, and the single-flush floor of this disk measured in the same run.
/// Needs the DCMTK tools in PATH.
public struct BenchIngestCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "C-STORE throughput of mambanode receive vs. DCMTK storescp."
    )

    @Option(help: "Slices in the series (512×512, 16 bits).")
    var count = 500

    @Option(help: "Rounds per receiver; the median is reported.")
    var rounds = 3

    @Option(help: "Parallel storescu associations, each sending its share of the series.")
    var associations = 1

    public func validate() throws {
        if count < 1 || count > 100_000 { throw ValidationError("--count must be 1…100000") }
        if rounds < 1 || rounds > 20 { throw ValidationError("--rounds must be 1…20") }
        if associations < 1 || associations > 16 { throw ValidationError("--associations must be 1…16") }
    }

    public func run() async throws {
        let work = FileManager.default.temporaryDirectory.path + "/mambanode-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        print("generating \(count) CT slices (512×512, 16 bits); \(associations) association(s) per push …")
        var generator = SeriesGenerator()
        generator.rows = 512
        generator.columns = 512
        generator.slices = count
        generator.pixelSpacing = (0.7, 0.7)
        generator.sliceSpacing = 1
        generator.phantom = .abdomenCT(size: 340)
        let files = try generator.write(to: work + "/series").files
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

        var storescp: [Double] = [], mambanode: [Double] = []
        for round in 0..<rounds {
            // Alternate the order so that neither receiver always gets the warmer page cache.
            for receiver in round % 2 == 0 ? ["storescp", "mambanode"] : ["mambanode", "storescp"] {
                let store = "\(work)/\(receiver)-\(round)"
                try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
                let port = UInt16.random(in: 20_000...60_000)
                let server =
                    receiver == "storescp"
                    ? try Child("storescp", ["-od", store, "\(port)"])
                    : try Child(me, ["receive", "--port", "\(port)", "--store", store, "--accept-any"])
                defer { server.kill() }
                try await Self.waitForEcho(port: port)
                // Start from clean page cache: otherwise the first fsync of a round also writes
                // back the previous round's (or the generator's) dirty pages (ext4 data=ordered).
                sync()
                let seconds = try await Self.push(files, port: port, associations: associations)
                let rate = Double(files.count) / seconds
                print(String(format: "round %d %@: %.0f images/s", round + 1, receiver, rate))
                if receiver == "storescp" { storescp.append(rate) } else { mambanode.append(rate) }
            }
        }
        let reference = median(storescp), ours = median(mambanode)
        let floor = try Self.flushFloor(in: work, bytes: 512 * 512 * 2)
        print(String(format: "storescp (no fsync):           %.0f images/s", reference))
        print(String(format: "mambanode receive (durable):   %.0f images/s", ours))
        print(String(format: "ratio mambanode / storescp:    %.2f×", ours / reference))
        // The floor of durable ingest for one association: receiving as fast as storescp, plus
        // one flush per instance (concurrent associations can share flushes and go below it).
        let floorPerInstance = 1 / reference + floor
        print(String(format: "one flush (write a slice, syncfs): %.2f ms", floor * 1000))
        print(
            String(
                format:
                    "single-flush floor:            %.2f ms per instance = storescp's %.2f ms + one flush (%.0f images/s)",
                floorPerInstance * 1000, 1000 / reference, 1 / floorPerInstance))
        print(
            String(
                format: "mambanode / floor:             %.2f× the floor's time per instance",
                (1 / ours) / floorPerInstance)
                + " (\(associations) association\(associations == 1 ? "" : "s"))")
    }

    /// Median seconds to write a new file of `bytes` into `directory` and flush its file system
    /// (`syncfs`, as the store does): the least an acknowledged instance can cost on this disk
    /// when every instance has a flush of its own.
    static func flushFloor(in directory: String, bytes: Int, samples: Int = 21) throws -> Double {
        let payload = [UInt8](repeating: 0x5A, count: bytes)
        sync()
        var times: [Double] = []
        for index in 0..<samples {
            let path = directory + "/floor-\(index)"
            let start = ContinuousClock.now
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ValidationError("cannot create \(path)") }
            _ = payload.withUnsafeBytes { write(fd, $0.baseAddress, bytes) }
            close(fd)
            try InstanceStore.flushFileSystem(of: path)
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            unlink(path)
        }
        return times.sorted()[samples / 2]
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Seconds `storescu` takes to send `files`, split over `associations` parallel processes.
    static func push(_ files: [String], port: UInt16, associations: Int) async throws -> Double {
        let start = ContinuousClock.now
        let shares = (0..<associations).map { k in stride(from: k, to: files.count, by: associations).map { files[$0] }
        }
        let senders = try shares.filter { !$0.isEmpty }.map { share in
            try Child("storescu", ["-aet", "BENCH", "-aec", "MAMBANODE", "127.0.0.1", "\(port)"] + share)
        }
        var statuses: [Int32] = []
        for sender in senders { statuses.append(await sender.wait()) }
        let elapsed = ContinuousClock.now - start
        if let failed = statuses.first(where: { $0 != 0 }) { throw ValidationError("storescu exited \(failed)") }
        let components = elapsed.components
        return Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    static func waitForEcho(port: UInt16, callingAE: String = "BENCH") async throws {
        for _ in 0..<250 {
            if await (try Child("echoscu", ["-aet", callingAE, "-aec", "MAMBANODE", "127.0.0.1", "\(port)"])).wait()
                == 0
            {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ValidationError("receiver on port \(port) did not answer C-ECHO")
    }
}
