import Foundation
import SeededRandom

@testable import NNMamba

/// Package root, derived from this file's path (Tests/NNMambaTests/TestHelpers.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The golden fixtures (Tests/Fixtures/golden/nnmamba/README.md); `$NNMAMBA_GOLDEN` points the
/// tests at another copy. Same rule as TestSupport's `TestModelPackage.goldenRoot` and
/// `Tools/tests/conftest.py` (this target does not depend on TestSupport).
let goldenRoot = ProcessInfo.processInfo.environment["NNMAMBA_GOLDEN"] ?? packageRoot + "/Tests/Fixtures/golden/nnmamba"

/// A seeded tensor with values uniform in [-scale, scale).
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = SplitMix64(seed: seed)
    return Tensor(shape: shape) { _ in scale * (2 * rng.nextFloat() - 1) }
}

/// A fresh temporary directory, removed by the caller with `removeItem`.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "/nnmamba-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes a safetensors file by hand: entries (name, dtype, shape, raw bytes), in order.
/// `headerLength` overrides the 8-byte length field (to build lying headers).
func writeRawSafeTensors(
    _ path: String, _ entries: [(String, String, [Int], [UInt8])],
    headerLength: UInt64? = nil, truncateTo: Int? = nil
) throws {
    var header: [String] = []
    var offset = 0
    for (name, dtype, shape, bytes) in entries {
        header.append(
            "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + bytes.count)]}"
        )
        offset += bytes.count
    }
    let json = Array(("{" + header.joined(separator: ",") + "}").utf8)
    var file = [UInt8]()
    withUnsafeBytes(of: (headerLength ?? UInt64(json.count)).littleEndian) { file.append(contentsOf: $0) }
    file += json
    for e in entries { file += e.3 }
    if let n = truncateTo { file = Array(file.prefix(n)) }
    try Data(file).write(to: URL(fileURLWithPath: path))
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}
