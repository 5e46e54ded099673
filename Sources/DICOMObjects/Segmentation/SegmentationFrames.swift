import DICOM

/// The frames of a BINARY Segmentation and their Pixel Data, made straight from the label map.
///
/// Frames are ordered by segment, then by source slice (the order of the dimension indices).
/// Pixel Data packs frame after frame with no padding between frames, one bit per pixel, first
/// pixel in the least significant bit (PS3.5 8.1.1 and 8.2; PS3.3 C.8.20.2.1), and the value is
/// padded to an even length (PS3.5 7.1.1).
///
/// Packing here instead of in dcmseg is what makes writing fast (docs/platform-notes.md §2): one
/// pass over the label map finds the non-empty (segment, slice) pairs, a second one sets the bits,
/// skipping eight background voxels at a time.
struct SegmentationFrames {
    /// Segment number of each frame.
    var segments: [UInt16] = []
    /// Source frame index (into the grid's frames) of each frame.
    var sources: [UInt32] = []
    var packed: [UInt8] = []

    var count: Int { segments.count }

    /// - Parameters:
    ///   - omitEmpty: leave out frames with no voxel of their segment. When that would leave fewer
    ///     frames than segments, every segment without a frame keeps its (empty) first slice: dcmseg
    ///     refuses such a SEG ("More segments than frames defined", DcmSegmentation::check in
    ///     3.6.7, reported only as "Invalid Object"), and a SEG needs at least one frame anyway.
    ///     This happens on short series, e.g. an enhanced CT of two frames with one label present.
    init(pixels: SegmentationPixels, segmentCount: Int, slices: Int, pixelsPerSlice: Int, omitEmpty: Bool) {
        var present = [Bool](repeating: false, count: segmentCount * slices)
        switch pixels {
        case .labels(let map):
            map.withUnsafeBufferPointer {
                Self.markPresent(map: $0, slices: slices, pixelsPerSlice: pixelsPerSlice, into: &present)
            }
        case .labels16(let map):
            map.withUnsafeBufferPointer {
                Self.markPresent(map: $0, slices: slices, pixelsPerSlice: pixelsPerSlice, into: &present)
            }
        case .masks(let masks):
            for (s, mask) in masks.enumerated() {
                mask.withUnsafeBufferPointer { buffer in
                    for k in 0..<slices where Self.anyNonZero(buffer, from: k * pixelsPerSlice, count: pixelsPerSlice) {
                        present[s * slices + k] = true
                    }
                }
            }
        }
        var kept = omitEmpty ? present : [Bool](repeating: true, count: segmentCount * slices)
        if kept.lazy.filter({ $0 }).count < segmentCount {
            for s in 0..<segmentCount where !kept[(s * slices)..<((s + 1) * slices)].contains(true) {
                kept[s * slices] = true
            }
        }
        // Frame index of each (segment, slice), or -1 when omitted.
        var frameOf = [Int32](repeating: -1, count: segmentCount * slices)
        for s in 0..<segmentCount {
            for k in 0..<slices where kept[s * slices + k] {
                frameOf[s * slices + k] = Int32(segments.count)
                segments.append(UInt16(s + 1))
                sources.append(UInt32(k))
            }
        }
        var bytes = (segments.count * pixelsPerSlice + 7) / 8
        bytes += bytes & 1
        packed = [UInt8](repeating: 0, count: bytes)
        packed.withUnsafeMutableBufferPointer { out in
            switch pixels {
            case .labels(let map):
                map.withUnsafeBufferPointer {
                    Self.pack(map: $0, slices: slices, pixelsPerSlice: pixelsPerSlice, frameOf: frameOf, into: out)
                }
            case .labels16(let map):
                map.withUnsafeBufferPointer {
                    Self.pack(map: $0, slices: slices, pixelsPerSlice: pixelsPerSlice, frameOf: frameOf, into: out)
                }
            case .masks(let masks):
                for (s, mask) in masks.enumerated() {
                    let segmentFrames = Array(frameOf[(s * slices)..<((s + 1) * slices)])
                    mask.withUnsafeBufferPointer {
                        Self.pack(
                            map: $0, slices: slices, pixelsPerSlice: pixelsPerSlice, frameOf: segmentFrames, into: out,
                            asMask: true)
                    }
                }
            }
        }
    }

    private static func anyNonZero(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int, count: Int) -> Bool {
        var i = start
        let end = start + count
        let raw = UnsafeRawPointer(buffer.baseAddress!)
        while i + 8 <= end {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return true }
            i += 8
        }
        while i < end {
            if buffer[i] != 0 { return true }
            i += 1
        }
        return false
    }

    /// Sets present[(v − 1) × slices + k] for every label v ≠ 0 on slice k. Labels were checked
    /// against the segment count by the writer.
    private static func markPresent<T: FixedWidthInteger & UnsignedInteger>(
        map: UnsafeBufferPointer<T>, slices: Int, pixelsPerSlice: Int, into present: inout [Bool]
    ) {
        let perWord = 8 / MemoryLayout<T>.size
        let raw = UnsafeRawPointer(map.baseAddress!)
        present.withUnsafeMutableBufferPointer { present in
            for k in 0..<slices {
                var i = k * pixelsPerSlice
                let end = i + pixelsPerSlice
                while i < end {
                    if i + perWord <= end,
                        raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: UInt64.self) == 0
                    {
                        i += perWord
                        continue
                    }
                    let v = Int(map[i])
                    if v != 0 { present[(v - 1) * slices + k] = true }
                    i += 1
                }
            }
        }
    }

    /// Sets the bit of every voxel whose frame exists. For a label map the frame is that of
    /// (label, slice); for a mask (`asMask`) `frameOf` is indexed by slice alone.
    private static func pack<T: FixedWidthInteger & UnsignedInteger>(
        map: UnsafeBufferPointer<T>, slices: Int, pixelsPerSlice: Int, frameOf: [Int32],
        into out: UnsafeMutableBufferPointer<UInt8>, asMask: Bool = false
    ) {
        let perWord = 8 / MemoryLayout<T>.size
        let raw = UnsafeRawPointer(map.baseAddress!)
        frameOf.withUnsafeBufferPointer { frameOf in
            for k in 0..<slices {
                let sliceStart = k * pixelsPerSlice
                var i = sliceStart
                let end = sliceStart + pixelsPerSlice
                while i < end {
                    if i + perWord <= end,
                        raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: UInt64.self) == 0
                    {
                        i += perWord
                        continue
                    }
                    let v = Int(map[i])
                    if v != 0 {
                        let frame = Int(asMask ? frameOf[k] : frameOf[(v - 1) * slices + k])
                        if frame >= 0 {
                            let bit = frame * pixelsPerSlice + (i - sliceStart)
                            out[bit >> 3] |= UInt8(1) << UInt8(bit & 7)
                        }
                    }
                    i += 1
                }
            }
        }
    }
}
