import Foundation
import ModelPackage
import NNMamba
import TestSupport
import Volume

@testable import Pipeline

// Shared pieces of the inference tests: stand-in networks, grids and manifests.

/// A pointwise stand-in for a segmentation network: class 0 scores a constant, class k > 0 scores
/// input channel k − 1 (an indicator image), both sharpened so the softmax is near one-hot.
struct IndicatorNetwork: InferenceNetwork {
    var sharpness: Float = 20

    func forward(_ x: Tensor) -> Tensor {
        let c = x.shape[1], v = x.voxelCount
        let out = Tensor(zeros: [1, c + 1] + Array(x.shape[2...]))
        for i in 0..<v { out[i] = 0.5 * sharpness }
        for k in 0..<c {
            let src = x.channel(0, k), dst = out.channel(0, k + 1)
            for i in 0..<v { dst[i] = sharpness * src[i] }
        }
        return out
    }
}

/// Returns its input: heat-maps in, heat-maps out.
struct IdentityNetwork: InferenceNetwork {
    func forward(_ x: Tensor) -> Tensor { x.copy() }
}

enum InferenceFixtures {
    /// An oblique, non-isotropic grid whose index axes are permuted and flipped relative to LPS,
    /// so reorientation, resampling and their inverses all do real work.
    static func obliqueGrid(
        size: SIMD3<Int> = SIMD3(36, 30, 16), spacing: SIMD3<Double> = SIMD3(0.9, 1.1, 2.2)
    )
        -> Geometry
    {
        // Signed permutation: i → −y, j → +z, k → −x; then 20° about (1, 2, 2)/3.
        let permutation = Matrix3(columns: SIMD3(0, -1, 0), SIMD3(0, 0, 1), SIMD3(-1, 0, 0))
        let axis = SIMD3<Double>(1, 2, 2) / 3, angle = 20.0 * .pi / 180
        func rotate(_ v: SIMD3<Double>) -> SIMD3<Double> {
            // Rodrigues' formula.
            let k = axis, c = cos(angle), s = sin(angle)
            let cross = SIMD3(k.y * v.z - k.z * v.y, k.z * v.x - k.x * v.z, k.x * v.y - k.y * v.x)
            return v * c + cross * s + k * ((k * v).sum()) * (1 - c)
        }
        let direction = Matrix3(columns: rotate(permutation.c0), rotate(permutation.c1), rotate(permutation.c2))
        return Geometry(size: size, spacing: spacing, origin: SIMD3(-31.5, 12.25, 48.0), direction: direction)
    }

    /// The patient position of the grid's centre.
    static func centre(_ g: Geometry) -> SIMD3<Double> {
        g.patientPoint(ofIndex: (SIMD3<Double>(Double(g.size.x), Double(g.size.y), Double(g.size.z)) - 1) / 2)
    }

    /// A volume whose voxel values are `f(patient position)`.
    static func volume(_ g: Geometry, _ f: (SIMD3<Double>) -> Float) -> Volume {
        var voxels = [Float](repeating: 0, count: g.voxelCount)
        for k in 0..<g.size.z {
            for j in 0..<g.size.y {
                for i in 0..<g.size.x {
                    voxels[g.offset(i, j, k)] = f(g.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k))))
                }
            }
        }
        return Volume(geometry: g, voxels: voxels)
    }

    /// A manifest read through `ModelPackage` (so it is validated), with an empty weights file.
    static func manifest(_ json: [String: Any]) throws -> ModelManifest {
        let dir = TemporaryDirectory("manifest")
        try TestModelPackage(manifest: json, weights: [:]).write(to: dir.path)
        return try ModelPackage(directory: dir.path).manifest
    }

    /// The `seg` golden fixture's input as four volumes on a canonical grid of `spacing`
    /// (tensor [1, 4, 32, 16, 32] → volumes of 32 × 16 × 32 voxels (x, y, z)).
    static func goldenSegmentationInput(spacing: Double = 1) throws -> (Tensor, [Volume]) {
        let input = try SafeTensorsFile(path: TestModelPackage.goldenRoot + "/seg/input.safetensors").tensor("input")
        let grid = Geometry(
            size: SIMD3(input.shape[4], input.shape[3], input.shape[2]), spacing: SIMD3(repeating: spacing),
            origin: SIMD3(-12.5, 30, 7), direction: .identity)
        let volumes = (0..<input.shape[1]).map { c in
            Volume(
                geometry: grid, voxels: Array(UnsafeBufferPointer(start: input.channel(0, c), count: input.voxelCount)))
        }
        return (input, volumes)
    }
}
