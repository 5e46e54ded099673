import DeveloperTools
import Foundation
import Testing

@testable import NNMamba

/// Loader behaviour on good and bad files, built in a temporary directory.
@Suite struct WeightsTests {
    static let clsConfig = NNMambaEncoder.Configuration(inChannels: 1, channels: 4, blocks: 2, classes: 1)
    static let segConfig = NNMambaSeg.Configuration(inChannels: 1, channels: 16, blocks: 2, classes: 2)

    /// Writes `tensors` and tries to build the classification network from them.
    func loadCls(_ tensors: [String: Tensor]) throws -> NNMambaEncoder {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafeTensorsFile.write(tensors, to: dir + "/w.safetensors")
        return try NNMambaEncoder(weights: Weights(path: dir + "/w.safetensors"), configuration: Self.clsConfig)
    }

    func error(_ body: () throws -> Any) -> NNMambaError? {
        do {
            _ = try body()
            return nil
        } catch { return error as? NNMambaError }
    }

    var good: [String: Tensor] { SyntheticWeights.random(SyntheticWeights.shapes(Self.clsConfig), seed: 3) }

    @Test func completeStateDictLoadsAndRuns() throws {
        let net = try loadCls(good)
        let y = net(randomTensor([1, 1, 9, 10, 11], seed: 1))
        #expect(y.shape == [1, 1])
        #expect(y[0].isFinite)
    }

    @Test func renamedKeyIsReportedAsMissingUnderTheModelName() {
        var t = good
        t["mlp.0.bias_renamed"] = t.removeValue(forKey: "mlp.0.bias")
        let e = error { try loadCls(t) }
        #expect(e?.code == .missingKey)
        #expect(e?.key == "mlp.0.bias")
        #expect(e?.expectedShape == [4])
    }

    @Test func missingKeyNamesTheKey() {
        var t = good
        t["layer2.1.bn1.running_var"] = nil
        let e = error { try loadCls(t) }
        #expect(e?.code == .missingKey)
        #expect(e?.key == "layer2.1.bn1.running_var")
    }

    @Test func unexpectedKeyNamesTheKeyAndShape() {
        var t = good
        t["layer9.0.conv1.weight"] = Tensor(zeros: [2, 2])
        let e = error { try loadCls(t) }
        #expect(e?.code == .unexpectedKey)
        #expect(e?.key == "layer9.0.conv1.weight")
        #expect(e?.actualShape == [2, 2])
    }

    @Test func wrongShapeNamesKeyAndBothShapes() {
        var t = good
        t["layer1.0.conv1.weight"] = Tensor(zeros: [8, 4, 3, 3, 1])
        let e = error { try loadCls(t) }
        #expect(e?.code == .shapeMismatch)
        #expect(e?.key == "layer1.0.conv1.weight")
        #expect(e?.expectedShape == [8, 4, 3, 3, 3])
        #expect(e?.actualShape == [8, 4, 3, 3, 1])
        #expect(e.map { "\($0)" }?.contains("[8, 4, 3, 3, 1]") == true)
    }

    @Test func moduleprefixBatchCountersAndDeepSupervisionHeadsAreAccepted() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var entries: [(String, String, [Int], [UInt8])] = good.keys.sorted().map { k in
            ("module." + k, "F32", good[k]!.shape, floatBytes(good[k]!.values))
        }
        entries.append(("module.in_conv.conv.1.num_batches_tracked", "I64", [], [UInt8](repeating: 7, count: 8)))
        entries.append(("ds1_cls_conv.weight", "F32", [1, 4, 1, 1, 1], floatBytes([1, 2, 3, 4])))
        try writeRawSafeTensors(dir + "/w.safetensors", entries)
        let viaPrefix = try NNMambaEncoder(
            weights: Weights(path: dir + "/w.safetensors"), configuration: Self.clsConfig)
        let x = randomTensor([1, 1, 8, 8, 8], seed: 2)
        #expect(viaPrefix(x).values == (try loadCls(good))(x).values)
    }

    @Test func truncatedFileIsMalformed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let entries = [("a", "F32", [4], floatBytes([1, 2, 3, 4])), ("b", "F32", [2], floatBytes([5, 6]))]
        try writeRawSafeTensors(dir + "/t.safetensors", entries, truncateTo: nil)
        let full = try Data(contentsOf: URL(fileURLWithPath: dir + "/t.safetensors")).count
        for cut in [0, 5, 12, full - 1] {
            try writeRawSafeTensors(dir + "/t.safetensors", entries, truncateTo: cut)
            let e = error { try SafeTensorsFile(path: dir + "/t.safetensors") }
            #expect(e?.code == .malformedFile, "cut at \(cut): \(String(describing: e))")
        }
    }

    @Test func headerThatLiesAboutItsSizeIsMalformed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let entries = [("a", "F32", [2], floatBytes([1, 2]))]
        for claimed: UInt64 in [1 << 40, UInt64.max, 10, 0] {
            try writeRawSafeTensors(dir + "/h.safetensors", entries, headerLength: claimed)
            let e = error { try SafeTensorsFile(path: dir + "/h.safetensors") }
            #expect(e?.code == .malformedFile, "claimed \(claimed): \(String(describing: e))")
        }
    }

    @Test func byteCountThatDisagreesWithShapeIsMalformed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeRawSafeTensors(dir + "/s.safetensors", [("a", "F32", [3], floatBytes([1, 2]))])
        let e = error { try SafeTensorsFile(path: dir + "/s.safetensors") }
        #expect(e?.code == .malformedFile)
        #expect(e?.key == "a")
    }

    @Test func nonFloatWeightIsRejectedWithItsKey() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeRawSafeTensors(dir + "/d.safetensors", [("w", "I32", [2], [UInt8](repeating: 0, count: 8))])
        let e = error { try Weights(path: dir + "/d.safetensors").take("w", shape: [2]) }
        #expect(e?.code == .unsupportedDType)
        #expect(e?.key == "w")
    }

    @Test func missingFileIsAnIOError() {
        let e = error { try SafeTensorsFile(path: "/nonexistent/w.safetensors") }
        #expect(e?.code == .io)
    }

    @Test func roundTripThroughWriterAndReader() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = randomTensor([2, 3, 4], seed: 9)
        try SafeTensorsFile.write(["x": t, "y": Tensor(zeros: [0])], to: dir + "/r.safetensors")
        let f = try SafeTensorsFile(path: dir + "/r.safetensors")
        #expect(try f.tensor("x").values == t.values)
        #expect(try f.tensor("x").shape == [2, 3, 4])
        #expect(try f.tensor("y").count == 0)
    }

    // MARK: shared Mamba layers and flavours (seg network, 16 channels)

    func loadSeg(_ tensors: [String: Tensor]) throws -> NNMambaSeg {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafeTensorsFile.write(tensors, to: dir + "/w.safetensors")
        return try NNMambaSeg(weights: Weights(path: dir + "/w.safetensors"), configuration: Self.segConfig)
    }

    func segWeights(blocks: Int = 3) -> [String: Tensor] {
        var c = Self.segConfig
        c.blocks = blocks
        return SyntheticWeights.random(SyntheticWeights.shapes(c), seed: 4)
    }

    @Test func sharedMambaDuplicatesMayBeDeduplicatedButMustBeEqual() throws {
        var c = Self.segConfig
        c.blocks = 3
        let full = segWeights(blocks: 3)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func load(_ t: [String: Tensor]) throws -> NNMambaSeg {
            try SafeTensorsFile.write(t, to: dir + "/w.safetensors")
            return try NNMambaSeg(weights: Weights(path: dir + "/w.safetensors"), configuration: c)
        }
        let x = randomTensor([1, 1, 16, 16, 16], seed: 5)
        let reference = try load(full)(x)
        // A de-duplicating exporter keeps only one of the names (either one).
        for drop in ["layer1.2.mamba_layer.", "layer1.1.mamba_layer."] {
            let deduplicated = full.filter { !$0.key.hasPrefix(drop) }
            #expect(try load(deduplicated)(x).values == reference.values, "without \(drop)")
        }
        // Duplicates that differ are an error naming the duplicate.
        var bad = full
        let key = "layer2.2.mamba_layer.mamba.D"
        bad[key] = Tensor(shape: bad[key]!.shape) { i in full[key]![i] + (i == 3 ? 1 : 0) }
        let e = error { try load(bad) }
        #expect(e?.code == .inconsistentDuplicate)
        #expect(e?.key == key)
    }

    @Test func flavourFollowsTheKeys() throws {
        let css = try loadSeg(segWeights(blocks: 2))
        #expect(css.flavour == .css)
        // nnU-Net variant: no nin2/norm2; deep-supervision heads present and ignored.
        var t = segWeights(blocks: 2).filter { !$0.key.contains(".nin2.") && !$0.key.contains(".norm2.") }
        t["ds1_cls_conv.weight"] = Tensor(zeros: [2, 32, 1, 1, 1])
        t["ds1_cls_conv.bias"] = Tensor(zeros: [2])
        let nnunet = try loadSeg(t)
        #expect(nnunet.flavour == .nnUNet)
        let y = nnunet(randomTensor([1, 1, 16, 16, 32], seed: 6))
        #expect(y.shape == [1, 2, 16, 16, 32])
        #expect(y.values.allSatisfy { $0 >= 0 && $0.isFinite })
    }

    @Test func inferredConfigurationMatchesTheStateDict() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafeTensorsFile.write(segWeights(blocks: 3), to: dir + "/w.safetensors")
        var expected = Self.segConfig
        expected.blocks = 3
        #expect(try NNMambaSeg.Configuration.inferred(from: Weights(path: dir + "/w.safetensors")) == expected)
    }
}
