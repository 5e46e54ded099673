/// Generator settings shared by several tests and benchmarks.
extension SeriesGenerator {
    /// A small abdominal CT: `slices` slices of 48 × 48 pixels of 5 mm, 6 mm apart, through the
    /// abdomen phantom (field of view 220 mm). The smallest series on which the node's job
    /// pipeline does real work (assembly, resampling to the untrained CT package's grid, SEG and
    /// SR) in about a second: the node, cluster and job benchmarks push many of them.
    public static func smallAbdomenCT(slices: Int) -> SeriesGenerator {
        var generator = SeriesGenerator()
        generator.rows = 48
        generator.columns = 48
        generator.slices = slices
        generator.pixelSpacing = (5, 5)
        generator.sliceSpacing = 6
        generator.phantom = .abdomenCT(size: 220)
        return generator
    }
}
