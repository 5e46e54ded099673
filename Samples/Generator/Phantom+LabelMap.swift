import Dispatch
import Foundation
import Volume

extension Phantom {
    /// The ground-truth label at the centre of every voxel of `geometry` (values 0…255), e.g. the
    /// grid that volume assembly made of a written series, so that label map and image match
    /// voxel for voxel whatever the series' orientation or slice order.
    ///
    /// ```swift
    /// let assembly = try Series.scan(files: written.files)[0].assemble()
    /// let labels = phantom.labelMap(on: assembly.volume.geometry)
    /// try NIfTI.write(labels, to: "labels.nii.gz", as: .uint8)
    /// ```
    public func labelMap(on geometry: Geometry) -> Volume {
        var voxels = [Float](repeating: 0, count: geometry.voxelCount)
        voxels.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            // One slice per work item; each writes only its own plane.
            DispatchQueue.concurrentPerform(iterations: geometry.size.z) { k in
                for j in 0..<geometry.size.y {
                    for i in 0..<geometry.size.x {
                        let p = geometry.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))
                        out[geometry.offset(i, j, k)] = Float(sample(p).label)
                    }
                }
            }
        }
        return Volume(geometry: geometry, voxels: voxels)
    }
}

extension Volume {
    /// Voxels per integer label value (rounded), for volumes of label maps.
    func labelCounts() -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for v in voxels { counts[Int(v.rounded()), default: 0] += 1 }
        return counts
    }

    /// Volume of one voxel in mm³.
    var voxelVolume: Double { geometry.spacing.x * geometry.spacing.y * geometry.spacing.z }
}
