/// How strict volume assembly is. Passed by value; every field has a documented default.
public struct AssemblyOptions: Sendable, Codable, Equatable {
    /// What to do with a gantry-tilted (sheared) stack.
    public enum TiltPolicy: String, Sendable, Codable {
        /// Resample every slice in-plane onto an orthogonal grid (what dcm2niix writes as its
        /// tilt-corrected file), with a warning.
        case resample
        /// Refuse the stack with `.gantryTilt`.
        case refuse
    }

    /// Keep LOCALIZER images (Image Type value 3) in the stacks. Default false.
    public var includeLocalizers = false
    /// Keep DERIVED images (Image Type value 1) next to ORIGINAL ones, and PROJECTION IMAGEs.
    /// Default false: reformats and MIPs are not acquisitions and sometimes share a series with
    /// the originals. A series whose images are *all* DERIVED (lossy compressed by a PACS, or a
    /// reformatted series sent on its own) is still stacked, with a warning; projection images
    /// never are unless this is set.
    public var includeDerived = false
    /// Largest difference between direction cosines for two slices to count as parallel
    /// (default 1e-3, about 0.06°; DS values carry about 6 significant digits).
    public var orientationTolerance = 1e-3
    /// Largest relative difference of Pixel Spacing within one stack (default 1e-4).
    public var pixelSpacingTolerance = 1e-4
    /// Largest deviation of a slice gap from the median gap, as a fraction of the median
    /// (default 0.05, i.e. 0.15 mm at 3 mm slices; dcm2niix warns from about the same).
    public var sliceGapTolerance = 0.05
    /// Largest in-plane offset (mm) of a slice from the straight or sheared track (default 0.01 mm).
    public var positionTolerance = 0.01
    public var tiltPolicy = TiltPolicy.resample
    /// Accept a one-slice stack, with Spacing Between Slices or Slice Thickness (else 1 mm) as
    /// its third spacing and a warning. Default false: a single slice is refused.
    public var allowSingleSlice = false
    /// Split by Acquisition Number (0020,0012). Default true. Acquisitions whose slices lie at
    /// different positions (step-and-shoot CT, table positions of one volume) are merged again;
    /// only acquisitions that repeat positions (dynamic, repeated scans) stay separate stacks.
    public var splitByAcquisitionNumber = true
    /// Largest volume assembled, in voxels (default 2^30: 4 GiB as Float32, e.g. 4000 slices of
    /// 512²); nil: no cap. A larger series is refused with `.tooLarge` before any pixel is
    /// decoded, so a hostile or mistaken header cannot make the node allocate without bound.
    public var maximumVoxels: Int? = 1 << 30
    /// Threads used to read headers and decode pixels (default: active processors).
    public var threads: Int? = nil

    public init() {}
}
