import Foundation
import NNMamba

/// One golden fixture folder (Tests/Fixtures/golden/nnmamba/README.md): `config.json`,
/// `weights.safetensors`, `input.safetensors`, `output.safetensors` and optionally
/// `intermediates.safetensors`.
///
/// Runs the module the config names through the engine with the constructor arguments it gives
/// (nothing about a particular fixture set is assumed) and compares with the float64 reference.
///
/// ```swift
/// let report = try GoldenFixture(directory: "Tests/Fixtures/golden/nnmamba/seg").run()
/// print(report.passed, report.maxAbsError)
/// ```
public struct GoldenFixture: Sendable {
    /// The module kinds a fixture can exercise.
    public enum Task: String, Sendable, CaseIterable {
        case mambaBlock = "mamba_block", cssMambaLayer = "css_mamba_layer", resLayer = "res_layer"
        case seg, landmark, cls

        /// Unit fixtures use 1e-5, whole networks 1e-4 (times max(1, max|reference|)).
        public var relativeTolerance: Float {
            switch self {
            case .mambaBlock, .cssMambaLayer, .resLayer: return 1e-5
            case .seg, .landmark, .cls: return 1e-4
            }
        }
    }

    public let directory: String
    public let task: Task
    /// `constructor_args` (numbers only).
    public let arguments: [String: Int]
    /// `mamba_defaults.d_state`, when given.
    public let dState: Int?

    /// Reads `config.json`; throws `.io` or `.invalidConfiguration`.
    public init(directory: String) throws {
        self.directory = directory
        let path = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NNMambaError(.io, key: path, "cannot read")
        }
        guard
            let config = (try? JSONSerialization.jsonObject(with: Self.replacingNonFiniteLiterals(data)))
                as? [String: Any]
        else {
            throw NNMambaError(.invalidConfiguration, key: path, "not a JSON object")
        }
        guard let name = config["task"] as? String, let task = Task(rawValue: name) else {
            throw NNMambaError(.invalidConfiguration, key: path, "unknown task \(config["task"] ?? "nil")")
        }
        self.task = task
        var args: [String: Int] = [:]
        for (k, v) in (config["constructor_args"] as? [String: Any]) ?? [:] {
            if let n = v as? NSNumber, let i = Int(exactly: n.doubleValue) { args[k] = i }
        }
        arguments = args
        dState = ((config["mamba_defaults"] as? [String: Any])?["d_state"] as? NSNumber)?.intValue
    }

    /// Python's json writes NaN/Infinity as bare words (e.g. the std of a one-element output),
    /// which JSON forbids; this turns them into `null` outside strings.
    static func replacingNonFiniteLiterals(_ data: Data) -> Data {
        var out = Data()
        out.reserveCapacity(data.count)
        let bytes = [UInt8](data)
        var i = 0, inString = false
        let words: [[UInt8]] = [Array("-Infinity".utf8), Array("Infinity".utf8), Array("NaN".utf8)]
        outer: while i < bytes.count {
            let b = bytes[i]
            if inString {
                out.append(b)
                if b == UInt8(ascii: "\\"), i + 1 < bytes.count {
                    out.append(bytes[i + 1])
                    i += 2
                    continue
                }
                if b == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if b == UInt8(ascii: "\"") { inString = true }
            for w in words where bytes[i...].starts(with: w) {
                out.append(contentsOf: Array("null".utf8))
                i += w.count
                continue outer
            }
            out.append(b)
            i += 1
        }
        return out
    }

    private func argument(_ name: String, default value: Int? = nil) throws -> Int {
        if let v = arguments[name] ?? value { return v }
        throw NNMambaError(.invalidConfiguration, key: name, "constructor argument missing in config.json")
    }

    /// Builds the module, runs the input, compares output and intermediates.
    public func run() throws -> GoldenReport {
        let weights = try Weights(path: directory + "/weights.safetensors")
        let input = try SafeTensorsFile(path: directory + "/input.safetensors").tensor("input")
        let reference = try SafeTensorsFile(path: directory + "/output.safetensors").tensor("output")
        let trace = Trace()
        let output = try forward(weights: weights, input: input, trace: trace)
        guard output.count == reference.count else {
            throw NNMambaError(
                .shapeMismatch, key: "output", expectedShape: reference.shape,
                actualShape: output.shape)
        }
        var stages: [GoldenReport.Comparison] = []
        let intermediatesPath = directory + "/intermediates.safetensors"
        if FileManager.default.fileExists(atPath: intermediatesPath) {
            let file = try SafeTensorsFile(path: intermediatesPath)
            for name in trace.names where file.entries[name] != nil {
                let ref = try file.tensor(name)
                stages.append(
                    .init(
                        name: name, engine: trace.tensors[name]!, reference: ref,
                        relativeTolerance: task.relativeTolerance))
            }
        }
        let final = GoldenReport.Comparison(
            name: "output", engine: output, reference: reference,
            relativeTolerance: task.relativeTolerance)
        let argmax = task == .seg ? ArgmaxAgreement(engine: output, reference: reference, margin: 1e-3) : nil
        return GoldenReport(task: task, output: final, intermediates: stages, argmax: argmax)
    }

    private func forward(weights: Weights, input: Tensor, trace: Trace) throws -> Tensor {
        switch task {
        case .mambaBlock:
            guard try argument("d_conv", default: 4) == 4 else {
                throw NNMambaError(.invalidConfiguration, key: "d_conv", "only d_conv 4 is supported")
            }
            let dModel = try argument("d_model")
            let block = try MambaBlock(
                WeightScope(weights), dModel: dModel,
                dState: argument("d_state", default: 16),
                expand: argument("expand", default: 2), dtRank: arguments["dt_rank"])
            try weights.finish()
            try expectShape(input, rank: 3, channelAxis: 2, channels: dModel)
            return block(input, trace: trace)
        case .cssMambaLayer:
            guard try argument("d_conv", default: 4) == 4, try argument("expand", default: 2) == 2 else {
                throw NNMambaError(.invalidConfiguration, key: "d_conv", "only d_conv 4, expand 2 are supported")
            }
            let scope = WeightScope(weights)
            let dim = try argument("dim")
            let layer = try MambaLayer(
                scope, channels: dim, dState: argument("d_state", default: dState ?? 16),
                flavour: MambaLayer.detectFlavour(scope))
            try weights.finish()
            try expectShape(input, rank: 5, channelAxis: 1, channels: dim)
            return layer(input, trace: trace)
        case .resLayer:
            let inPlanes = try argument("inplanes")
            let hasMamba = arguments["mamba_dim"] != nil || arguments["d_state"] != nil
            let stage = try ResidualStage(
                WeightScope(weights), inPlanes: inPlanes, planes: argument("planes"),
                blocks: argument("blocks"), stride: argument("stride"),
                mambaDState: hasMamba ? argument("d_state", default: dState ?? 16) : nil)
            try weights.finish()
            try expectShape(input, rank: 5, channelAxis: 1, channels: inPlanes)
            return stage(input, trace: trace)
        case .seg, .landmark:
            let config = try NNMambaSeg.Configuration(
                inChannels: argument("in_ch", default: 1), channels: argument("channels", default: 32),
                blocks: argument("blocks", default: 3), classes: argument("number_classes", default: 6),
                dState: dState ?? 16)
            let net = try NNMambaSeg(weights: weights, configuration: config)
            try expectShape(input, rank: 5, channelAxis: 1, channels: config.inChannels)
            guard input.shape[2...].allSatisfy({ $0 % 16 == 0 }) else {
                throw NNMambaError(
                    .invalidInput, key: "input", actualShape: input.shape,
                    "spatial size must be divisible by 16")
            }
            return net(input, trace: trace)
        case .cls:
            let config = try NNMambaEncoder.Configuration(
                inChannels: argument("in_ch", default: 1), channels: argument("channels", default: 32),
                blocks: argument("blocks", default: 3), classes: argument("number_classes", default: 1),
                dState: dState ?? 8)
            let net = try NNMambaEncoder(weights: weights, configuration: config)
            try expectShape(input, rank: 5, channelAxis: 1, channels: config.inChannels)
            return net(input, trace: trace)
        }
    }

    private func expectShape(_ x: Tensor, rank: Int, channelAxis: Int, channels: Int) throws {
        guard x.rank == rank, x.shape[channelAxis] == channels, x.count > 0 else {
            var expected = x.shape
            if expected.count > channelAxis { expected[channelAxis] = channels }
            throw NNMambaError(.invalidInput, key: "input", expectedShape: expected, actualShape: x.shape)
        }
    }
}

/// The result of running a golden fixture.
public struct GoldenReport: Sendable {
    /// Engine vs reference for one tensor.
    public struct Comparison: Sendable {
        public let name: String
        public let engineShape: [Int], referenceShape: [Int]
        /// max |engine − reference| (infinity when the element counts differ or a value is NaN).
        public let maxAbsError: Float
        public let maxAbsReference: Float
        /// Allowed max |error|: relativeTolerance · max(1, max|reference|).
        public let tolerance: Float

        /// maxAbsError / max|reference|.
        public var relativeError: Float { maxAbsError / max(maxAbsReference, .leastNormalMagnitude) }
        public var passed: Bool { maxAbsError <= tolerance }

        init(name: String, engine: Tensor, reference: Tensor, relativeTolerance: Float) {
            self.name = name
            engineShape = engine.shape
            referenceShape = reference.shape
            maxAbsReference = reference.maxAbs
            tolerance = relativeTolerance * max(1, maxAbsReference)
            if engine.count != reference.count {
                maxAbsError = .infinity
            } else {
                let e = engine.maxAbsDifference(reference)
                maxAbsError = e.isNaN || (0..<engine.count).contains { engine[$0].isNaN } ? .infinity : e
            }
        }
    }

    public let task: GoldenFixture.Task
    public let output: Comparison
    /// Intermediates in network order (those the fixture holds).
    public let intermediates: [Comparison]
    /// Segmentation label agreement (seg fixtures only).
    public let argmax: ArgmaxAgreement?

    /// The first intermediate over its tolerance, in network order.
    public var firstDivergence: Comparison? { intermediates.first { !$0.passed } }

    public var passed: Bool {
        output.passed && (argmax?.passed ?? true)
    }
}

/// Agreement of the per-voxel argmax over channels (ties to the lowest index), counted where the
/// reference's top two channel values differ by more than `margin`.
public struct ArgmaxAgreement: Sendable {
    public let considered: Int
    public let disagreeing: Int
    public var passed: Bool { disagreeing == 0 }

    /// engine, reference: [N, C, D, H, W].
    public init(engine: Tensor, reference: Tensor, margin: Float) {
        precondition(
            engine.shape == reference.shape && engine.rank == 5, "argmax \(engine.shape) vs \(reference.shape)")
        let (n, c, v) = (engine.shape[0], engine.shape[1], engine.voxelCount)
        var considered = 0, disagreeing = 0
        for b in 0..<n {
            for i in 0..<v {
                var best = 0, second = -Float.infinity
                var bestValue = reference[(b * c) * v + i]
                var engineBest = 0, engineValue = engine[(b * c) * v + i]
                for k in 1..<max(c, 1) {
                    let r = reference[(b * c + k) * v + i]
                    if r > bestValue {
                        second = bestValue
                        bestValue = r
                        best = k
                    } else {
                        second = max(second, r)
                    }
                    let e = engine[(b * c + k) * v + i]
                    if e > engineValue {
                        engineValue = e
                        engineBest = k
                    }
                }
                if c > 1 && bestValue - second > margin {
                    considered += 1
                    if engineBest != best { disagreeing += 1 }
                }
            }
        }
        self.considered = considered
        self.disagreeing = disagreeing
    }
}
