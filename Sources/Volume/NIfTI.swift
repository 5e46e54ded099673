import CNIfTI
import Foundation
import Synchronization

/// NIfTI-1 export and import through niftilib (for comparison with dcm2niix, debugging, and the
/// label maps the engine and SEG encoder exchange).
///
/// NIfTI's world space is RAS+ (NIfTI-1 header, `qform`/`sform` comments); DICOM's is LPS+, so the
/// first two rows of the affine are negated on the way out and back on the way in. Voxel order is
/// the same as `Volume` (i fastest), so no data is reordered.
///
/// ```swift
/// try NIfTI.write(volume, to: "ct.nii.gz")                      // Int16 + scl when values allow
/// try NIfTI.write(labels, to: "seg.nii.gz", as: .uint8)
/// let back = try NIfTI.read(contentsOf: "seg.nii.gz")           // Volume in LPS
/// ```
public enum NIfTI {
    /// Voxel type written to the file.
    public enum DataType: Sendable {
        /// Int16 when every value is an integer in range (CT, most MR), else Float32.
        case automatic
        case uint8, int16, float32
    }

    /// Writes `volume` (3D). `.gz` file names are gzip-compressed. qform and sform both carry the
    /// geometry (code 1, scanner anatomical), as dcm2niix writes them.
    public static func write(
        _ volume: Volume, to path: String, as type: DataType = .automatic,
        description: String = "MambaNode"
    ) throws(VolumeError) {
        let g = volume.geometry
        var header = mn_nifti_header()
        header.dim = (Int64(g.size.x), Int64(g.size.y), Int64(g.size.z))
        header.pixdim = (g.spacing.x, g.spacing.y, g.spacing.z)
        header.scl_slope = 1
        header.scl_inter = 0
        let ras = g.indexToRAS
        withUnsafeMutableBytes(of: &header.sform) { raw in
            let m = raw.bindMemory(to: Double.self)
            for r in 0..<3 { for c in 0..<4 { m[r * 4 + c] = ras[r][c] } }
        }
        withUnsafeMutableBytes(of: &header.descrip) { raw in
            for (index, byte) in description.utf8.prefix(79).enumerated() { raw[index] = byte }
        }
        var int16: [Int16]? = nil
        if type == .int16 { int16 = volume.voxels.map { Int16(max(-32768, min(32767, $0.rounded()))) } }
        var error = [CChar](repeating: 0, count: 512)
        let status: Int32
        if type == .automatic && isIntegralInt16(volume.voxels) {
            header.datatype = Int32(MN_NIFTI_INT16)
            status = volume.voxels.withUnsafeBufferPointer {
                mn_nifti_write_float_as_int16(path, &header, $0.baseAddress, &error, error.count)
            }
        } else if let int16 {
            header.datatype = Int32(MN_NIFTI_INT16)
            status = int16.withUnsafeBytes { mn_nifti_write(path, &header, $0.baseAddress, &error, error.count) }
        } else if type == .uint8 {
            header.datatype = Int32(MN_NIFTI_UINT8)
            let data = volume.voxels.map { UInt8(max(0, min(255, $0.rounded()))) }
            status = data.withUnsafeBytes { mn_nifti_write(path, &header, $0.baseAddress, &error, error.count) }
        } else {
            // Float32 asked for, or values that Int16 would not hold exactly.
            header.datatype = Int32(MN_NIFTI_FLOAT32)
            status = volume.voxels.withUnsafeBytes {
                mn_nifti_write(path, &header, $0.baseAddress, &error, error.count)
            }
        }
        guard status == 0 else { throw VolumeError(.nifti, message(error)) }
    }

    /// Reads a NIfTI-1/2 file (3D, or the first volume of a 4D file) into a `Volume` in LPS, with
    /// `scl_slope`/`scl_inter` applied. The sform is used when its code is set, else the qform.
    public static func read(contentsOf path: String) throws(VolumeError) -> Volume {
        var header = mn_nifti_header()
        var data: UnsafeMutableRawPointer?
        var error = [CChar](repeating: 0, count: 512)
        guard mn_nifti_read(path, &header, &data, &error, error.count) == 0, let data else {
            throw VolumeError(.nifti, message(error))
        }
        defer { mn_nifti_free_data(data) }
        let size = SIMD3(Int(header.dim.0), Int(header.dim.1), Int(header.dim.2))
        let count = size.x * size.y * size.z
        var voxels = [Float](repeating: 0, count: count)
        let slope = header.scl_slope == 0 || !header.scl_slope.isFinite ? 1 : header.scl_slope
        let intercept = header.scl_inter.isFinite ? header.scl_inter : 0
        func convert<T>(_ type: T.Type, _ value: (T) -> Double) {
            let source = data.bindMemory(to: T.self, capacity: count)
            for index in 0..<count { voxels[index] = Float(value(source[index]) * slope + intercept) }
        }
        switch Int(header.datatype) {
        case Int(MN_NIFTI_UINT8): convert(UInt8.self) { Double($0) }
        case Int(MN_NIFTI_INT8): convert(Int8.self) { Double($0) }
        case Int(MN_NIFTI_INT16): convert(Int16.self) { Double($0) }
        case Int(MN_NIFTI_UINT16): convert(UInt16.self) { Double($0) }
        case Int(MN_NIFTI_INT32): convert(Int32.self) { Double($0) }
        case Int(MN_NIFTI_UINT32): convert(UInt32.self) { Double($0) }
        case Int(MN_NIFTI_FLOAT32): convert(Float.self) { Double($0) }
        case Int(MN_NIFTI_FLOAT64): convert(Double.self) { $0 }
        default: throw VolumeError(.nifti, "\(path): NIfTI datatype \(header.datatype) is not supported")
        }
        var ras = [[Double]](repeating: [0, 0, 0, 0], count: 3)
        let useSform = header.sform_code > 0
        withUnsafeBytes(of: useSform ? header.sform : header.qform) { raw in
            let m = raw.bindMemory(to: Double.self)
            for r in 0..<3 { for c in 0..<4 { ras[r][c] = m[r * 4 + c] } }
        }
        // RAS → LPS, then split the 3×3 part into unit directions and spacings.
        let columns = (0..<3).map { c in SIMD3(-ras[0][c], -ras[1][c], ras[2][c]) }
        let spacing = SIMD3(length(columns[0]), length(columns[1]), length(columns[2]))
        guard spacing.min() > 0 else { throw VolumeError(.nifti, "\(path): degenerate affine") }
        let geometry = Geometry(
            size: size, spacing: spacing, origin: SIMD3(-ras[0][3], -ras[1][3], ras[2][3]),
            direction: Matrix3(columns: columns[0] / spacing.x, columns[1] / spacing.y, columns[2] / spacing.z))
        return Volume(geometry: geometry, voxels: voxels)
    }

    /// Whether every voxel is an integer in Int16's range (one parallel, read-only pass of
    /// `mn_float_is_int16_exact`, which checks without branches; NaN fails).
    static func isIntegralInt16(_ voxels: [Float]) -> Bool {
        let chunk = 1 << 20
        let chunks = (voxels.count + chunk - 1) / chunk
        let fits = Atomic<Bool>(true)
        voxels.withUnsafeBufferPointer { source in
            nonisolated(unsafe) let values = source
            parallelFor(chunks, threads: nil) { c in
                guard fits.load(ordering: .relaxed) else { return }
                let start = c * chunk, n = min(values.count, start + chunk) - start
                if mn_float_is_int16_exact(values.baseAddress! + start, n) == 0 {
                    fits.store(false, ordering: .relaxed)
                }
            }
        }
        return fits.load(ordering: .relaxed)
    }

    private static func message(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
