import Foundation
import ModelPackage
import NNMamba
import TestSupport
import Testing
import Volume

@testable import Pipeline

/// The recipe's resampling one axis at a time (the default) against the point-by-point
/// reference (`Options.pointwiseResampling`), with the shipped sample models on a CT and a
/// sagittal MR series: the network's input agrees to rounding, and the same network output
/// gives identical labels on the source grid except at exact ties.
@Suite struct ResamplingEquivalenceTests {
    static let samples =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/Samples/models"

    enum Sample: String, CaseIterable {
        case ct, mr
    }

    static func volume(_ sample: Sample, in dir: TemporaryDirectory) throws -> Volume {
        var g = SeriesGenerator()
        switch sample {
        case .ct:
            (g.rows, g.columns, g.slices) = (112, 120, 36)
            g.pixelSpacing = (row: 1.6, column: 1.6)
            g.sliceSpacing = 2.5
            g.phantom = .abdomenCT(size: 170)
        case .mr:
            // Sagittal: rows run anterior → posterior, columns head → feet.
            g.modality = .mr
            g.signed = false
            g.bitsStored = 12
            (g.rows, g.columns, g.slices) = (96, 100, 30)
            g.pixelSpacing = (row: 1.7, column: 1.8)
            g.sliceSpacing = 4.5
            (g.rowDirection, g.columnDirection) = (SIMD3(0, 1, 0), SIMD3(0, 0, -1))
            g.phantom = .headMR(size: 150)
        }
        try g.write(to: dir.file(sample.rawValue))
        return try #require(try Series.scan(directory: dir.file(sample.rawValue)).first).assemble().volume
    }

    @Test(arguments: Sample.allCases)
    func separableResamplingGivesTheReferenceInputAndLabels(sample: Sample) throws {
        let dir = TemporaryDirectory("resampling-\(sample.rawValue)")
        let volume = try Self.volume(sample, in: dir)
        let package = try ModelPackage(directory: Self.samples + (sample == .ct ? "/ct-organs" : "/mr-brain"))
        var options = InferencePipeline.Options()
        let fast = try InferencePipeline(package: package, options: options)
        options.pointwiseResampling = true
        let reference = try InferencePipeline(package: package, options: options)

        // The way in: the same grids, the same tensor to rounding (the B-spline and the
        // normalisation are the same arithmetic in another order).
        let a = try fast.prepare([volume]), b = try reference.prepare([volume])
        #expect(a.record == b.record)
        #expect(a.record.resampled != a.record.canonical, "the sample must be resampled")
        if sample == .mr { #expect(a.record.canonical != a.record.source, "the MR must be reoriented") }
        let difference = zip(a.tensor.values, b.tensor.values).map { abs($0 - $1) }.max() ?? 0
        #expect(difference <= 1e-5, "largest difference in the network input \(difference)")

        // The way back, from one network output.
        let probabilities = a.record.padding.crop(fast.denseOutput(a.tensor, softmax: true))
        let labels = fast.labelMap(probabilities, record: a.record, like: InputIdentity(volume)).voxels
        let expected = reference.labelMap(probabilities, record: a.record, like: InputIdentity(volume)).voxels
        #expect(labels.contains { $0 != 0 }, "the model must find something")
        let differing = labels.indices.filter { labels[$0] != expected[$0] }
        if !differing.isEmpty {
            // Only exact ties may differ: voxels whose two best interpolated classes are equal.
            let ties = Self.ties(probabilities, record: a.record)
            #expect(differing.allSatisfy { ties.contains($0) }, "\(differing.count) labels differ")
        }
    }

    /// Source voxels where the two most probable classes, interpolated point by point, are
    /// within 1e-6 of each other.
    static func ties(_ probabilities: Tensor, record: PreprocessingRecord) -> Set<Int> {
        let n = probabilities.voxelCount
        let channels = (0..<probabilities.shape[1]).map { c in
            Volume(
                geometry: record.resampled,
                voxels: Array(UnsafeBufferPointer(start: probabilities.channel(0, c), count: n))
            ).resampledPointwise(to: record.source, interpolation: .linear, fill: c == 0 ? 1 : 0, extendingEdges: true)
        }
        var ties = Set<Int>()
        for o in 0..<record.source.voxelCount {
            let sorted = channels.map { $0.voxels[o] }.sorted(by: >)
            if sorted[0] - sorted[1] <= 1e-6 { ties.insert(o) }
        }
        return ties
    }
}
