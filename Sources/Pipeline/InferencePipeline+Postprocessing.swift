import Foundation
import ModelPackage
import NNMamba
import Volume

extension InferencePipeline {
    /// Class probabilities on the resampled grid -> label map on the source grid (docs/inference.md):
    /// each class's probability is resampled linearly onto the source voxels (undoing
    /// resampling and crop), then argmax, ties to the lowest class. Source voxels outside a crop
    /// are background.
    ///
    /// The interpolation goes onto the canonical grid, whose axes are the resampled grid's
    /// (`ClassProbabilities.labels(on:)` works along them, only where a class can win), and
    /// the labels are then permuted back onto the source grid, which shares the canonical
    /// grid's voxel centres.
    ///
    /// probabilities: [1, K, D, H, W] on `record.resampled` -> labels on `record.source`.
    func labelMap(_ probabilities: Tensor, record: PreprocessingRecord, like input: InputIdentity) -> Volume {
        var labels: [Float]
        if record.resampled == record.source {
            // Nothing moved: the tensor's voxels are the source voxels.
            labels = argmaxChannels(probabilities).map(Float.init)
        } else if record.resampled == record.canonical {
            // Only reoriented: the labels are permuted back exactly (interpolating at coinciding
            // centres could break exact ties differently from the argmax).
            let canonical = Volume(geometry: record.canonical, voxels: argmaxChannels(probabilities).map(Float.init))
            labels = canonical.resampled(to: record.source, interpolation: .nearest).voxels
        } else {
            let classes = ClassProbabilities(
                grid: record.resampled, classes: probabilities.shape[1],
                values: UnsafeBufferPointer(start: probabilities.data, count: probabilities.count))
            if options.pointwiseResampling {
                labels = classes.pointwiseLabels(on: record.source)
                if let crop = record.crop {
                    for (i, inside) in cropMask(record, crop).enumerated() where !inside { labels[i] = 0 }
                }
            } else {
                var canonical = Volume(geometry: record.canonical, voxels: classes.labels(on: record.canonical))
                if let crop = record.crop {
                    // The edge extension reaches half a resampled voxel beyond the crop; that band
                    // is outside the non-zero box and therefore background.
                    let g = record.canonical.size
                    for k in 0..<g.z {
                        for j in 0..<g.y {
                            for i in 0..<g.x {
                                let p = SIMD3(i, j, k)
                                if any(p .< crop.lower) || any(p .>= crop.upper) { canonical[i, j, k] = 0 }
                            }
                        }
                    }
                }
                labels =
                    record.canonical == record.source
                    ? canonical.voxels : canonical.resampled(to: record.source, interpolation: .nearest).voxels
            }
        }
        return Volume(
            geometry: record.source, voxels: labels, sources: input.sources,
            seriesInstanceUID: input.seriesInstanceUID, frameOfReferenceUID: input.frameOfReferenceUID)
    }

    /// Which source voxels lie inside the crop box: the box drawn on the canonical grid and
    /// reoriented back (nearest; canonical and source share their voxel centres).
    func cropMask(_ record: PreprocessingRecord, _ crop: (lower: SIMD3<Int>, upper: SIMD3<Int>)) -> [Bool] {
        var box = Volume(geometry: record.canonical)
        for k in crop.lower.z..<crop.upper.z {
            for j in crop.lower.y..<crop.upper.y {
                for i in crop.lower.x..<crop.upper.x { box[i, j, k] = 1 }
            }
        }
        return box.resampled(to: record.source, interpolation: .nearest).voxels.map { $0 != 0 }
    }

    /// Heat-maps on the resampled grid -> each manifest landmark's peak in patient coordinates
    /// and source voxels. The peak (d, h, w) is index (w, h, d) of `record.resampled`, whose
    /// geometry already holds every crop, resampling and reorientation.
    ///
    /// heatmaps: [1, K, D, H, W] on `record.resampled`.
    func landmarks(_ heatmaps: Tensor, record: PreprocessingRecord) -> [String: LandmarkPosition] {
        let decoded = decodeLandmarks(heatmaps, refinement: options.landmarkRefinement)[0]
        var found: [String: LandmarkPosition] = [:]
        for landmark in manifest.landmarks ?? [] {
            let peak = decoded[landmark.channel]
            let patient: SIMD3<Double>
            if manifest.recipe == .lfc, let grid = manifest.preprocessing?.grid?.first {
                // LFC reads the peak against the stored volume, not the resized grid.
                let voxel = Self.lfcVoxel(
                    peak: peak.position, stored: record.canonical.size, grid: grid)
                patient = record.canonical.patientPoint(ofIndex: voxel)
            } else {
                let index = SIMD3(peak.position[2], peak.position[1], peak.position[0])
                patient = record.resampled.patientPoint(ofIndex: index)
            }
            let sourceIndex = record.source.continuousIndex(ofPatientPoint: patient)
            let voxel = SIMD3(Int(sourceIndex.x.rounded()), Int(sourceIndex.y.rounded()), Int(sourceIndex.z.rounded()))
            found[landmark.name] = LandmarkPosition(patient: patient, voxel: voxel, index: sourceIndex, peak: peak.peak)
        }
        return found
    }

    /// Logits [1, K] -> the positive class's logit (one logit, or the difference of two with
    /// class 1 positive), its probability (the sigmoid, or the package's calibration of it) and
    /// the decision at the manifest threshold.
    func classification(_ logits: Tensor) throws(InferenceError) -> InferenceResult.Output {
        let logit: Double
        switch logits.count {
        case 1:
            logit = Double(logits[0])
        case 2:
            // softmax(l)[1] = σ(l1 − l0).
            logit = Double(logits[1]) - Double(logits[0])
        default:
            throw InferenceError(
                .postprocessing, field: "network.outputs",
                "classification needs one logit (sigmoid) or two (softmax), got \(logits.count)")
        }
        let probability =
            manifest.classification?.calibration?.probability(logit: logit)
            ?? BinaryClassification(logit: logit).probability
        let threshold = manifest.classification?.threshold ?? 0.5
        return .classification(
            ClassificationScore(logit: logit, probability: probability, positive: probability >= threshold))
    }
}
