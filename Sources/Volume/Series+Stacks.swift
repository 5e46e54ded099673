import DICOM

extension Series {
    /// Splits the series into stacks and chooses the primary one.
    ///
    /// Images are left out when they are LOCALIZER, PROJECTION IMAGE, or DERIVED in a series that
    /// also has ORIGINAL images (unless the options keep them; see `AssemblyOptions`), or when a
    /// frame lacks Image Position/Orientation (Patient) or Pixel Spacing. The rest are
    /// split by Frame of Reference UID, orientation (within `orientationTolerance`), Rows/Columns,
    /// Pixel Spacing (within `pixelSpacingTolerance`), Echo Number/Effective Echo Time, Temporal
    /// Position, Acquisition Number (if `splitByAcquisitionNumber`; acquisitions whose slice
    /// positions do not overlap are merged again, see `mergingAcquisitions`), Diffusion b-value and
    /// the enhanced Stack ID.
    ///
    /// **Primary stack rule.** The stack with the most slices; on a tie, the one with the lowest
    /// echo number, then echo time, temporal position, acquisition number, b-value and Stack ID
    /// (a missing value sorts first), then the lowest Instance Number. A primary stack of one slice
    /// is chosen only when no stack has two; if those single slices disagree in orientation the
    /// series is refused with `.mixedOrientation`.
    public func stacks(options: AssemblyOptions = AssemblyOptions()) throws(VolumeError) -> StackSelection {
        var stacks: [Stack] = []
        var excluded: [StackSelection.Exclusion] = []
        let hasOriginals = instances.contains { !$0.isDerived && !$0.isLocalizer }
        for instance in instances {
            if instance.isLocalizer, !options.includeLocalizers {
                excluded.append(
                    .init(sopInstanceUID: instance.sopInstanceUID, frameNumber: nil, reason: "localizer (Image Type)"))
                continue
            }
            if instance.isProjection, !options.includeDerived {
                excluded.append(
                    .init(
                        sopInstanceUID: instance.sopInstanceUID, frameNumber: nil,
                        reason: "projection image (Image Type)"))
                continue
            }
            if instance.isDerived, hasOriginals, !options.includeDerived {
                excluded.append(
                    .init(
                        sopInstanceUID: instance.sopInstanceUID, frameNumber: nil, reason: "derived image (Image Type)")
                )
                continue
            }
            for (index, frame) in instance.frames.enumerated() {
                let frameNumber = instance.isMultiFrame ? index + 1 : nil
                guard let position = frame.position, let orientation = frame.orientation,
                    let spacing = frame.pixelSpacing
                else {
                    let missing =
                        frame.position == nil
                        ? Tag.imagePositionPatient
                        : frame.orientation == nil ? Tag.imageOrientationPatient : Tag.pixelSpacing
                    excluded.append(
                        .init(
                            sopInstanceUID: instance.sopInstanceUID, frameNumber: frameNumber,
                            reason: "no \(missing.described)"))
                    continue
                }
                let key = StackKey(
                    frameOfReferenceUID: instance.frameOfReferenceUID, orientation: orientation,
                    rows: instance.pixel.rows, columns: instance.pixel.columns, pixelSpacing: spacing,
                    echoNumber: frame.echoNumber, echoTime: frame.echoTime,
                    temporalPosition: frame.temporalPosition,
                    acquisitionNumber: options.splitByAcquisitionNumber ? frame.acquisitionNumber : nil,
                    diffusionBValue: frame.diffusionBValue, stackID: frame.stackID)
                let slice = Slice(
                    path: instance.path, sopClassUID: instance.sopClassUID,
                    sopInstanceUID: instance.sopInstanceUID, frameNumber: frameNumber,
                    instanceNumber: instance.instanceNumber, position: position, orientation: orientation,
                    pixelSpacing: spacing, rescale: frame.rescale, pixel: instance.pixel,
                    sliceThickness: instance.sliceThickness,
                    spacingBetweenSlices: instance.spacingBetweenSlices, gantryTilt: instance.gantryTilt)
                if let at = stacks.firstIndex(where: { Self.belongs(key, to: $0.key, options: options) }) {
                    stacks[at].slices.append(slice)
                } else {
                    stacks.append(Stack(key: key, slices: [slice]))
                }
            }
        }
        guard !stacks.isEmpty else {
            let reasons = Dictionary(grouping: excluded, by: \.reason).map { "\($0.value.count) × \($0.key)" }.sorted()
            let hint =
                excluded.contains { $0.reason.hasPrefix("derived") || $0.reason.hasPrefix("projection") }
                ? "; set includeDerived to use derived images" : ""
            throw VolumeError(
                .noImages, "no image with geometry to stack (\(reasons.joined(separator: ", ")))\(hint)",
                series: seriesInstanceUID)
        }
        stacks = Self.mergingAcquisitions(stacks, options: options)
        stacks.sort(by: Self.precedes)
        let primary = stacks[0]
        if primary.slices.count == 1, stacks.count > 1,
            stacks.contains(where: {
                $0.key.orientation.distance(to: primary.key.orientation) > options.orientationTolerance
            })
        {
            throw VolumeError(
                .mixedOrientation,
                "\(stacks.count) single-slice stacks with different orientations; no stack has two slices",
                series: seriesInstanceUID, tag: .imageOrientationPatient)
        }
        return StackSelection(
            seriesInstanceUID: seriesInstanceUID, primary: primary, others: Array(stacks.dropFirst()),
            excluded: excluded)
    }

    /// Stacks that differ only in Acquisition Number and whose slices lie at different positions
    /// along the normal are one volume acquired in parts (step-and-shoot CT, several table
    /// positions; pydicom's CT5N is 3 + 2 slices in acquisitions 1 and 2), so they are merged.
    /// Acquisitions that repeat positions (dynamic or repeated scans) stay separate stacks.
    static func mergingAcquisitions(_ stacks: [Stack], options: AssemblyOptions) -> [Stack] {
        var result: [Stack] = []
        for stack in stacks {
            var key = stack.key
            key.acquisitionNumber = nil
            guard stack.key.acquisitionNumber != nil,
                let at = result.firstIndex(where: { candidate in
                    var other = candidate.key
                    other.acquisitionNumber = nil
                    return belongs(key, to: other, options: options)
                        && !overlaps(candidate.slices, stack.slices, normal: other.orientation.normal, options: options)
                })
            else {
                result.append(stack)
                continue
            }
            result[at].key.acquisitionNumber = nil
            result[at].slices += stack.slices
        }
        return result
    }

    static func overlaps(_ a: [Slice], _ b: [Slice], normal: SIMD3<Double>, options: AssemblyOptions) -> Bool {
        let positions = a.map { dot($0.position, normal) }
        return b.contains { slice in
            let d = dot(slice.position, normal)
            return positions.contains { abs($0 - d) < max(options.positionTolerance, 1e-4) }
        }
    }

    static func belongs(_ key: StackKey, to stack: StackKey, options: AssemblyOptions) -> Bool {
        guard key.sharesDiscreteValues(with: stack) else { return false }
        guard key.orientation.distance(to: stack.orientation) <= options.orientationTolerance else { return false }
        let tolerance = options.pixelSpacingTolerance
        return abs(key.pixelSpacing.row - stack.pixelSpacing.row) <= tolerance * stack.pixelSpacing.row
            && abs(key.pixelSpacing.column - stack.pixelSpacing.column) <= tolerance * stack.pixelSpacing.column
    }

    /// The primary-stack order documented on `stacks(options:)`.
    static func precedes(_ a: Stack, _ b: Stack) -> Bool {
        if a.slices.count != b.slices.count { return a.slices.count > b.slices.count }
        func order<T: Comparable>(_ x: T?, _ y: T?) -> Bool? {
            switch (x, y) {
            case (nil, nil): return nil
            case (nil, _): return true
            case (_, nil): return false
            case let (x?, y?): return x == y ? nil : x < y
            }
        }
        if let o = order(a.key.echoNumber, b.key.echoNumber) { return o }
        if let o = order(a.key.echoTime, b.key.echoTime) { return o }
        if let o = order(a.key.temporalPosition, b.key.temporalPosition) { return o }
        if let o = order(a.key.acquisitionNumber, b.key.acquisitionNumber) { return o }
        if let o = order(a.key.diffusionBValue, b.key.diffusionBValue) { return o }
        if let o = order(a.key.stackID, b.key.stackID) { return o }
        let firstA = a.slices.compactMap(\.instanceNumber).min(), firstB = b.slices.compactMap(\.instanceNumber).min()
        return order(firstA, firstB) ?? false
    }
}
