import Volume

/// A real image in patient space (read from NIfTI, so already LPS) with optional labels on the
/// same grid: the anatomy below a `Phantom`'s ellipsoids. Values are interpolated trilinearly,
/// labels by nearest voxel (a label is never mixed).
public struct SampledImage: Sendable {
    public var image: Volume
    /// Integer labels on `image.geometry`, or nil when the image carries no ground truth.
    public var labels: Volume?

    public init(image: Volume, labels: Volume? = nil) {
        precondition(labels == nil || labels!.geometry == image.geometry, "labels must share the image grid")
        self.image = image
        self.labels = labels
    }

    /// The value and label at `p`; `outside` and label 0 beyond the image.
    public func sample(_ p: SIMD3<Double>, outside: Double) -> (value: Double, label: Int) {
        let value = image.value(atPatientPoint: p).map(Double.init) ?? outside
        let label = labels?.value(atPatientPoint: p, interpolation: .nearest).map { Int($0.rounded()) } ?? 0
        return (value, label)
    }
}
