import NNMamba
import SeededRandom

#if canImport(Glibc)
    import Glibc
#endif

/// State_dict key/shape lists of the networks and seeded random weights with PyTorch-like
/// magnitudes, for benchmarks and tests (no trained numbers involved).
public enum SyntheticWeights {
    /// The float32 keys and shapes of an nnMambaSeg state_dict (CSS flavour, shared Mamba
    /// duplicates included, no BN counters), as the root `nnMamba.py` produces them.
    public static func shapes(_ c: NNMambaSeg.Configuration) -> [String: [Int]] {
        let w = c.channels
        var s: [String: [Int]] = [:]
        doubleConv(&s, "in_conv", c.inChannels, w)
        for (i, width) in [w, 2 * w, 4 * w].enumerated() {
            s["att\(i + 1).layer1.weight"] = [width / 16, width]
            s["att\(i + 1).layer1.bias"] = [width / 16]
            s["att\(i + 1).layer2.weight"] = [width, width / 16]
            s["att\(i + 1).layer2.bias"] = [width]
        }
        for k in 1...3 {
            stage(&s, "layer\(k)", w << (k - 1), w << k, c.blocks, mambaDState: c.dState)
        }
        doubleConv(&s, "conv5", 12 * w, 4 * w)
        doubleConv(&s, "conv6", 6 * w, 2 * w)
        doubleConv(&s, "conv7", 3 * w, w)
        doubleConv(&s, "conv8", w, c.classes)
        return s
    }

    /// The float32 keys and shapes of an nnMambaEncoder state_dict.
    public static func shapes(_ c: NNMambaEncoder.Configuration) -> [String: [Int]] {
        let w = c.channels
        var s: [String: [Int]] = [:]
        doubleConv(&s, "in_conv", c.inChannels, w)
        mambaLayer(&s, "mamba_layer_stem", w, dState: c.dState)
        for k in 1...3 { stage(&s, "layer\(k)", w << (k - 1), w << k, c.blocks, mambaDState: nil) }
        s["mlp.0.weight"] = [w, 14 * w]
        s["mlp.0.bias"] = [w]
        s["mlp.3.weight"] = [c.classes, w]
        s["mlp.3.bias"] = [c.classes]
        return s
    }

    /// Seeded random tensors for `shapes`: weights U(±1/√fan_in), BN near identity, Mamba's own
    /// initialisation for A_log, D and dt_proj.bias. Shared Mamba duplicates get equal values.
    public static func random(_ shapes: [String: [Int]], seed: UInt64 = 1) -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        var out: [String: Tensor] = [:]
        for key in shapes.keys.sorted() {
            let canonical = canonicalKey(key)
            if canonical != key, let shared = out[canonical] {
                out[key] = shared
                continue
            }
            let shape = shapes[canonical]!
            let fanIn = shape.count > 1 ? shape[1...].reduce(1, *) : 1
            let t: Tensor
            if key.hasSuffix("A_log") {
                t = Tensor(shape: shape) { i in logf(Float(i % shape[1] + 1)) }
            } else if key.hasSuffix("mamba.D") || key.hasSuffix("running_var") {
                t = Tensor(shape: shape) { _ in 0.8 + 0.4 * rng.nextFloat() }
            } else if key.hasSuffix("dt_proj.bias") {
                // inverse softplus of dt drawn log-uniformly in [1e-3, 0.1]
                t = Tensor(shape: shape) { _ in
                    let dt = expf(logf(1e-3) + rng.nextFloat() * (logf(0.1) - logf(1e-3)))
                    return dt + logf(-expm1f(-dt))
                }
            } else if key.hasSuffix("running_mean") || (key.hasSuffix(".bias") && shape.count == 1 && isBN(key)) {
                t = Tensor(shape: shape) { _ in 0.2 * (rng.nextFloat() - 0.5) }
            } else if isBN(key) && key.hasSuffix(".weight") {
                t = Tensor(shape: shape) { _ in 0.8 + 0.4 * rng.nextFloat() }
            } else {
                let bound = 1 / Float(fanIn).squareRoot()
                t = Tensor(shape: shape) { _ in bound * (2 * rng.nextFloat() - 1) }
            }
            out[canonical] = t
            out[key] = t
        }
        return out
    }

    /// `layerK.N.mamba_layer.x` → `layerK.1.mamba_layer.x` (the shared copy).
    static func canonicalKey(_ key: String) -> String {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count > 3, parts[0].hasPrefix("layer"), parts[2] == "mamba_layer" else { return key }
        var p = parts
        p[1] = "1"
        return p.joined(separator: ".")
    }

    private static func isBN(_ key: String) -> Bool {
        let parts = key.split(separator: ".")
        guard parts.count >= 2 else { return false }
        let module = parts[parts.count - 2]
        return module.hasPrefix("bn") || module.hasPrefix("norm") || module == "1" || module == "4"
    }

    private static func bn(_ s: inout [String: [Int]], _ p: String, _ c: Int) {
        for n in ["weight", "bias", "running_mean", "running_var"] { s["\(p).\(n)"] = [c] }
    }

    private static func doubleConv(_ s: inout [String: [Int]], _ p: String, _ cin: Int, _ cout: Int) {
        s["\(p).conv.0.weight"] = [cout, cin, 3, 3, 3]
        s["\(p).conv.0.bias"] = [cout]
        bn(&s, "\(p).conv.1", cout)
        s["\(p).conv.3.weight"] = [cout, cout, 3, 3, 3]
        s["\(p).conv.3.bias"] = [cout]
        bn(&s, "\(p).conv.4", cout)
    }

    private static func mambaLayer(_ s: inout [String: [Int]], _ p: String, _ c: Int, dState: Int) {
        s["\(p).nin.weight"] = [c, c, 1, 1, 1]
        s["\(p).nin2.weight"] = [c, c, 1, 1, 1]
        bn(&s, "\(p).norm", c)
        bn(&s, "\(p).norm2", c)
        let di = 2 * c, r = (c + 15) / 16
        s["\(p).mamba.A_log"] = [di, dState]
        s["\(p).mamba.D"] = [di]
        s["\(p).mamba.in_proj.weight"] = [2 * di, c]
        s["\(p).mamba.conv1d.weight"] = [di, 1, 4]
        s["\(p).mamba.conv1d.bias"] = [di]
        s["\(p).mamba.x_proj.weight"] = [r + 2 * dState, di]
        s["\(p).mamba.dt_proj.weight"] = [di, r]
        s["\(p).mamba.dt_proj.bias"] = [di]
        s["\(p).mamba.out_proj.weight"] = [c, di]
    }

    private static func stage(
        _ s: inout [String: [Int]], _ p: String, _ cin: Int, _ cout: Int, _ blocks: Int,
        mambaDState: Int?
    ) {
        for i in 0..<blocks {
            let b = "\(p).\(i)"
            s["\(b).conv1.weight"] = [cout, i == 0 ? cin : cout, 3, 3, 3]
            bn(&s, "\(b).bn1", cout)
            s["\(b).conv2.weight"] = [cout, cout, 3, 3, 3]
            bn(&s, "\(b).bn2", cout)
            if i == 0 {
                s["\(b).downsample.0.weight"] = [cout, cin, 1, 1, 1]
                bn(&s, "\(b).downsample.1", cout)
            } else if let d = mambaDState {
                mambaLayer(&s, "\(b).mamba_layer", cout, dState: d)
            }
        }
    }
}
