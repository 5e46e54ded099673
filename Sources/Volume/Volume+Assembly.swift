import DICOM
import Foundation
import Synchronization

/// A series turned into a volume, with everything learnt on the way.
public struct Assembly: Sendable {
    public var volume: Volume
    public var stacks: StackSelection
    public var layout: StackLayout
    /// Everything accepted that a person should know (excluded instances, other stacks, tilt…).
    public var warnings: [VolumeWarning]
}

extension Series {
    /// Splits the series into stacks, lays out the primary stack and decodes its pixels.
    ///
    /// Pixel values become modality values: stored values (masked to Bits Stored and
    /// sign-extended by the decoder) are inverted for MONOCHROME1 within the stored range
    /// (PS3.3 C.7.6.3.1.2), then Rescale Slope/Intercept — per frame for enhanced images
    /// (C.7.6.16.2.9) — are applied.
    public func assemble(options: AssemblyOptions = AssemblyOptions()) throws(VolumeError) -> Assembly {
        let selection = try stacks(options: options)
        let layout = try selection.primary.layout(series: seriesInstanceUID, options: options)
        if let maximum = options.maximumVoxels, layout.geometry.voxelCount > maximum {
            let size = layout.geometry.size
            throw VolumeError(
                .tooLarge,
                "\(size.x)×\(size.y)×\(size.z) = \(layout.geometry.voxelCount) voxels, more than the "
                    + "\(maximum) allowed (\(Self.gibibytes(layout.geometry.voxelCount)) GiB as Float32)",
                series: seriesInstanceUID)
        }
        var warnings: [VolumeWarning] = []
        if !selection.excluded.isEmpty {
            let reasons = Dictionary(grouping: selection.excluded, by: \.reason).map { "\($0.value.count) × \($0.key)" }
                .sorted()
            warnings.append(VolumeWarning(.excludedInstances, "left out: " + reasons.joined(separator: ", ")))
        }
        if !selection.others.isEmpty {
            warnings.append(
                VolumeWarning(
                    .additionalStacks,
                    "\(selection.others.count + 1) stacks; assembled the primary "
                        + "(\(selection.primary.summary)); others: "
                        + selection.others.map(\.summary).joined(separator: "; ")))
        }
        if instances.allSatisfy(\.isDerived) {
            warnings.append(
                VolumeWarning(
                    .derivedImages,
                    "every image is DERIVED (Image Type), e.g. lossy compressed or "
                        + "reformatted"))
        }
        warnings += layout.warnings
        let frameOfReference = selection.primary.key.frameOfReferenceUID
        var volume = try Volume(
            layout: layout, series: seriesInstanceUID, frameOfReferenceUID: frameOfReference,
            threads: options.threads)
        volume.isMR3DAcquisition =
            volume.geometry.size.z > 1 && instances.contains { $0.mrAcquisitionType == "3D" }
        return Assembly(volume: volume, stacks: selection, layout: layout, warnings: warnings)
    }

    static func gibibytes(_ voxels: Int) -> String {
        String(format: "%.1f", Double(voxels) * 4 / Double(1 << 30))
    }
}

extension Volume {
    /// Decodes the slices of `layout` into a volume, files in parallel.
    public init(
        layout: StackLayout, series: String, frameOfReferenceUID: String? = nil,
        threads: Int? = nil
    ) throws(VolumeError) {
        let geometry = layout.geometry
        let planeSize = geometry.size.x * geometry.size.y
        let sourcePlaneSize = layout.slices[0].pixel.rows * layout.slices[0].pixel.columns
        for slice in layout.slices where slice.pixel.samplesPerPixel != 1 {
            throw VolumeError(
                .unsupported,
                "\(slice.pixel.samplesPerPixel) samples per pixel "
                    + "(\(slice.pixel.photometricInterpretation)); only monochrome images make a scalar volume",
                series: series, tag: .samplesPerPixel, instance: slice.sopInstanceUID)
        }
        // Work items: the slices of one file, cut into chunks so a multi-frame file is also
        // decoded on every thread (each chunk opens its own DataSet, which is not thread-safe).
        var byFile: [String: [Int]] = [:]
        for (k, slice) in layout.slices.enumerated() { byFile[slice.path, default: []].append(k) }
        let workers = workerCount(threads, items: layout.slices.count)
        var items: [[Int]] = []
        for path in byFile.keys.sorted() {
            let ks = byFile[path]!
            let chunk = max(1, (ks.count + workers - 1) / workers)
            for start in stride(from: 0, to: ks.count, by: chunk) {
                items.append(Array(ks[start..<min(ks.count, start + chunk)]))
            }
        }

        let workItems = items
        let failure = Mutex<VolumeError?>(nil)
        // Every plane is written by its slice's decode, so the voxels start uninitialised: no
        // single-threaded zeroing pass, and the pages are first touched by the decoding threads.
        let voxels = [Float](unsafeUninitializedCapacity: geometry.voxelCount) { buffer, count in

            nonisolated(unsafe) let output = buffer
            parallelFor(items.count, threads: threads) { item in
                do throws(VolumeError) {
                    try Volume.decode(
                        slices: workItems[item], of: layout, series: series, planeSize: planeSize,
                        sourcePlaneSize: sourcePlaneSize, into: output)
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
            // Float has no invalid bit patterns; on a failure the array is thrown away below.
            count = geometry.voxelCount
        }
        if let error = failure.withLock({ $0 }) { throw error }
        let sources = layout.slices.map {
            SliceReference(sopClassUID: $0.sopClassUID, sopInstanceUID: $0.sopInstanceUID, frameNumber: $0.frameNumber)
        }
        self.init(
            geometry: geometry, voxels: voxels, sources: sources, seriesInstanceUID: series,
            frameOfReferenceUID: frameOfReferenceUID)
    }

    /// Decodes slices `ks` (all from one file) into their planes of `output`.
    static func decode(
        slices ks: [Int], of layout: StackLayout, series: String, planeSize: Int, sourcePlaneSize: Int,
        into output: UnsafeMutableBufferPointer<Float>
    ) throws(VolumeError) {
        let path = layout.slices[ks[0]].path
        let dataSet: DataSet
        do { dataSet = try DataSet.read(contentsOf: path) } catch {
            throw VolumeError(
                .unreadable, "cannot read \(path): \(error.message)", series: series,
                instance: layout.slices[ks[0]].sopInstanceUID)
        }
        var stored = [Int32](repeating: 0, count: sourcePlaneSize)
        // Tilted stacks are decoded into a scratch plane first, then shifted into place.
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(
            capacity: layout.inPlaneShifts.isEmpty ? 0 : sourcePlaneSize)
        defer { scratch.deallocate() }
        for k in ks {
            let slice = layout.slices[k]
            do throws(DICOMError) {
                try stored.withUnsafeMutableBufferPointer { buffer throws(DICOMError) in
                    try dataSet.decodeFrame(slice.frameIndex, into: buffer)
                }
            } catch {
                throw VolumeError(
                    .unreadable, "cannot decode frame \(slice.frameIndex + 1): \(error.message)", series: series,
                    tag: .pixelData, instance: slice.sopInstanceUID)
            }
            let range = slice.pixel.storedRange
            let invert = slice.pixel.isMonochrome1
            let flip = Int32(range.min + range.max)
            let intercept = Float(slice.rescale.intercept)
            let exactScale = slice.rescale.slope == 1
            let target = UnsafeMutableBufferPointer(rebasing: output[(k * planeSize)..<((k + 1) * planeSize)])
            let destination = layout.inPlaneShifts.isEmpty ? target : scratch
            stored.withUnsafeBufferPointer { source in
                for index in 0..<sourcePlaneSize {
                    let value = invert ? flip - source[index] : source[index]
                    // Slope 1 adds the intercept to an exact integer; otherwise compute in Double
                    // so that e.g. slope 0.5 and large intercepts round once.
                    destination[index] =
                        exactScale
                        ? Float(value) + intercept
                        : Float(Double(value) * slice.rescale.slope + slice.rescale.intercept)
                }
            }
            if !layout.inPlaneShifts.isEmpty {
                shiftPlane(
                    UnsafeBufferPointer(scratch), sourceSize: SIMD2(slice.pixel.columns, slice.pixel.rows),
                    by: layout.inPlaneShifts[k], columns: layout.geometry.size.x, rows: layout.geometry.size.y,
                    into: target)
            }
        }
    }

    /// Resamples one plane by a constant sub-pixel shift (gantry tilt correction): output pixel
    /// (i, j) of a `columns` × `rows` plane takes the bilinear value at source (i + shift.x,
    /// j + shift.y) of the `source` plane; outside the source, the nearest edge pixel (the
    /// scanner's own padding) is repeated.
    static func shiftPlane(
        _ source: UnsafeBufferPointer<Float>, sourceSize: SIMD2<Int>, by shift: SIMD2<Double>,
        columns: Int, rows: Int, into output: UnsafeMutableBufferPointer<Float>
    ) {
        let width = sourceSize.x, height = sourceSize.y
        func sample(_ position: Double, _ count: Int) -> (Int, Int, Float) {
            let p = min(max(position, 0), Double(count - 1))
            let lower = min(Int(p), max(count - 2, 0))
            return (lower, min(lower + 1, count - 1), Float(p - Double(lower)))
        }
        for j in 0..<rows {
            let (j0, j1, fy) = sample(Double(j) + shift.y, height)
            for i in 0..<columns {
                let (i0, i1, fx) = sample(Double(i) + shift.x, width)
                let top = source[j0 * width + i0] * (1 - fx) + source[j0 * width + i1] * fx
                let bottom = source[j1 * width + i0] * (1 - fx) + source[j1 * width + i1] * fx
                output[j * columns + i] = top * (1 - fy) + bottom * fy
            }
        }
    }
}
