import ArgumentParser
import COpenBLAS
import DeveloperTools
import Foundation
import NNMamba
import SeededRandom
import Synchronization

/// `mambanode bench engine`: nnMambaSeg forward passes (BraTS configuration, random weights), one
/// classification pass, and the sgemm rate of this machine measured in the same run.
///
/// The segmentation passes run one after another in one buffer-pool scope, as the windows of a
/// sliding-window prediction do (SlidingWindow.swift): the first pass also pays for first-time
/// page faults, the later ones are what each further window of a series costs.
public struct BenchEngineCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time nnMamba forward passes (random weights) and this machine's sgemm rate."
    )

    @Option(help: "Cubic input size of the segmentation pass (multiple of 16).")
    var size = 128

    @Option(help: "Segmentation passes, back to back as the windows of one series (≥ 1).")
    var passes = 3

    @Option(help: "Threads for the engine and OpenBLAS.")
    var threads = 2

    @Option(help: "Base width c of the segmentation network.")
    var channels = 32

    @Option(help: "Classification input size D,H,W (0 to skip the classification pass).")
    var clsSize = "113,137,113"

    @Flag(help: "Skip the sgemm reference measurement.")
    var noSgemm = false

    public func validate() throws {
        guard size > 0, size % 16 == 0 else { throw ValidationError("--size must be a positive multiple of 16") }
        guard passes >= 1 else { throw ValidationError("--passes must be ≥ 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }
        guard clsSize == "0" || clsDims != nil else { throw ValidationError("--cls-size must be D,H,W or 0") }
    }

    private var clsDims: [Int]? {
        let d = clsSize.split(separator: ",").compactMap { Int($0) }
        return d.count == 3 && d.allSatisfy { $0 > 0 } ? d : nil
    }

    public func run() throws {
        Parallel.setThreadCount(threads)
        print("OpenBLAS core: \(String(cString: openblas_get_corename())), threads: \(threads)")
        let segConfig = NNMambaSeg.Configuration(inChannels: 4, channels: channels, blocks: 3, classes: 4)
        let seg = try NNMambaSeg(
            weights: try temporaryWeights(SyntheticWeights.shapes(segConfig)),
            configuration: segConfig)
        let input = randomInput([1, 4, size, size, size], seed: 7)
        let gflop = 217.0 * pow(Double(size) / 128, 3) * pow(Double(channels) / 32, 2)
        // Each pass's time and profile; the profile printed is the median pass's.
        let runs = BufferPool.reusing { (0..<passes).map { _ in timedProfile { seg(input) } } }
        let peak = peakResidentBytes()
        let later = runs.dropFirst().sorted { $0.seconds < $1.seconds }
        let median = later.isEmpty ? runs[0] : later[later.count / 2]
        Self.lastProfile.withLock { $0 = median.profile }
        print(
            String(
                format: "seg 1x4x%d³ (c %d): %.2f s, %.1f GFLOP/s (%.0f GFLOP), peak RSS %.2f GiB",
                size, channels, median.seconds, gflop / median.seconds, gflop, Double(peak) / Double(1 << 30)))
        print(
            "  passes: " + runs.map { String(format: "%.2f", $0.seconds) }.joined(separator: ", ")
                + (later.isEmpty ? " s" : " s (the figure above is the median after the first)"))
        printProfile()

        if let dims = clsDims {
            let clsConfig = NNMambaEncoder.Configuration()
            let cls = try NNMambaEncoder(
                weights: try temporaryWeights(SyntheticWeights.shapes(clsConfig)),
                configuration: clsConfig)
            let x = randomInput([1, 1] + dims, seed: 8)
            let clsGflop = 82.2 * Double(dims.reduce(1, *)) / (113.0 * 137 * 113)
            let (clsSeconds, _) = timed { cls(x) }
            print(
                String(
                    format: "cls 1x1x%@: %.2f s, %.1f GFLOP/s (%.1f GFLOP)",
                    dims.map(String.init).joined(separator: "x"),
                    clsSeconds, clsGflop / clsSeconds, clsGflop))
            printProfile()
        }
        if !noSgemm { measureSgemm() }
    }

    /// Runs `body` with a fresh engine profile installed and returns its time and profile.
    private func timedProfile<T>(_ body: () -> T) -> (seconds: Double, profile: EngineProfile) {
        let profile = EngineProfile()
        Instrumentation.install(profile)
        let start = Instrumentation.nanoseconds()
        _ = body()
        let seconds = Double(Instrumentation.nanoseconds() - start) / 1e9
        Instrumentation.install(nil)
        return (seconds, profile)
    }

    /// Runs `body` with a fresh engine profile installed; the profile is kept for printProfile().
    private func timed<T>(_ body: () -> T) -> (Double, T) {
        let profile = EngineProfile()
        Self.lastProfile.withLock { $0 = profile }
        Instrumentation.install(profile)
        let start = Instrumentation.nanoseconds()
        let result = body()
        let seconds = Double(Instrumentation.nanoseconds() - start) / 1e9
        Instrumentation.install(nil)
        return (seconds, result)
    }

    private static let lastProfile = Mutex<EngineProfile?>(nil)

    private func printProfile() {
        guard let profile = Self.lastProfile.withLock({ $0 }) else { return }
        for region in EngineRegion.allCases where profile.seconds(region) > 0 {
            print(String(format: "  %-48@ %.2f s", EngineProfile.name(region), profile.seconds(region)))
        }
    }

    /// The GEMM shape of a 64-channel 3³ convolution at 32³ (M 128, K 1728, N 32768).
    private func measureSgemm() {
        let (m, k, n) = (128, 1728, 32768)
        let a = randomInput([m, k], seed: 1), b = randomInput([k, n], seed: 2)
        let c = Tensor(zeros: [m, n])
        func gemm() {
            Gemm.multiply(
                transA: false, transB: false, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n,
                c: c.data, ldc: n)
        }
        gemm()
        let reps = 3
        let start = Instrumentation.nanoseconds()
        for _ in 0..<reps { gemm() }
        let seconds = Double(Instrumentation.nanoseconds() - start) / 1e9 / Double(reps)
        let rate = 2.0 * Double(m * k * n) / seconds / 1e9
        print(
            String(format: "sgemm %dx%dx%d: %.1f GFLOP/s (the engine's GEMM roofline on this machine)", m, k, n, rate))
    }

    private func randomInput(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape) { _ in 2 * rng.nextFloat() - 1 }
    }

    /// Writes the synthetic state_dict to a temporary safetensors file and opens it, so the
    /// benchmark exercises the real loader.
    private func temporaryWeights(_ shapes: [String: [Int]]) throws -> Weights {
        let path = NSTemporaryDirectory() + "/mambanode-bench-\(getpid())-\(shapes.count).safetensors"
        try SafeTensorsFile.write(SyntheticWeights.random(shapes), to: path)
        defer { unlink(path) }
        return try Weights(path: path)
    }

    private func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
