import Foundation
import Volume

/// A real brain image read from NIfTI (RAS on disk, LPS once read) with its brain mask on the
/// same grid: the anatomy MR sample series are resampled from.
///
/// - Colin27 (`ch2.nii.gz`, Debian's mricron-data): mask `ch2bet.nii.gz > 0`, the BET-extracted
///   brain shipped beside it; `aal.nii.gz` is the AAL atlas on the same grid.
/// - MNI152 ICBM 2009a symmetric (nilearn's wheel): skull-stripped already, so the mask follows
///   nilearn's `load_mni152_brain_mask` rule: template / max > 0.2.
///
/// ```swift
/// let colin = try BrainTemplate.colin27()
/// let mni = try BrainTemplate.mni152(path: BrainTemplate.findMNI152(roots: ["."]))
/// ```
public struct BrainTemplate: Sendable {
    public enum Source: String, Sendable, CaseIterable { case colin27, mni152 }

    public var name: String
    public var image: Volume
    /// 1 inside the brain, 0 outside, on `image.geometry`; nil when none was given.
    public var mask: Volume?
    public var imagePath: String
    /// How the mask was made (for the ground-truth notes).
    public var maskRule: String?

    public static let colin27Directory = "/usr/share/mricron/templates"
    public static let mni152FileName = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    /// nilearn's `load_mni152_brain_mask(threshold=0.2)` on its template rescaled to [0, 1].
    public static let mni152MaskFraction = 0.2

    public init(name: String, image: Volume, mask: Volume?, imagePath: String, maskRule: String?) {
        self.name = name
        self.image = image
        self.mask = mask
        self.imagePath = imagePath
        self.maskRule = maskRule
    }

    /// Colin27 from mricron-data.
    public static func colin27(directory: String = colin27Directory) throws(SampleError) -> BrainTemplate {
        let image = directory + "/ch2.nii.gz", bet = directory + "/ch2bet.nii.gz"
        return try nifti(
            image: image, mask: bet, threshold: 0, name: "colin27",
            installHint: "install the Debian package mricron-data (Scripts/bootstrap does)")
    }

    /// The AAL atlas on the Colin27 grid (labels 1…116; 0 outside).
    public static func aal(directory: String = colin27Directory) throws(SampleError) -> Volume {
        try read(
            directory + "/aal.nii.gz", installHint: "install the Debian package mricron-data (Scripts/bootstrap does)")
    }

    /// nilearn's MNI152 template; the mask is nilearn's brain-mask rule.
    public static func mni152(path: String) throws(SampleError) -> BrainTemplate {
        let image = try read(path, installHint: "install nilearn into .venv (Scripts/bootstrap does)")
        let peak = image.voxels.max() ?? 0
        guard peak > 0 else { throw SampleError(.badInput, "the template is empty", path: path) }
        let threshold = Float(mni152MaskFraction) * peak
        let mask = Volume(geometry: image.geometry, voxels: image.voxels.map { $0 > threshold ? 1 : 0 })
        return BrainTemplate(
            name: "mni152", image: image, mask: mask, imagePath: path,
            maskRule: "template > \(mni152MaskFraction) × its maximum (nilearn load_mni152_brain_mask)")
    }

    /// Where nilearn's MNI152 file is: `$MAMBANODE_MNI152` (the file or its folder) when set,
    /// else `.venv/lib/python3*/site-packages/nilearn/datasets/data/` under each root.
    public static func findMNI152(
        roots: [String], environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(SampleError) -> String
    {
        var tried: [String] = []
        if let configured = environment["MAMBANODE_MNI152"], !configured.isEmpty {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: configured, isDirectory: &isDirectory)
            let path = exists && isDirectory.boolValue ? configured + "/" + mni152FileName : configured
            if FileManager.default.fileExists(atPath: path) { return path }
            throw SampleError(.missingFile, "MAMBANODE_MNI152 names no file \(mni152FileName)", path: path)
        }
        for root in roots {
            let lib = root + "/.venv/lib"
            let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []
            for version in versions.sorted() where version.hasPrefix("python3") {
                let path = "\(lib)/\(version)/site-packages/nilearn/datasets/data/\(mni152FileName)"
                if FileManager.default.fileExists(atPath: path) { return path }
            }
            tried.append("\(lib)/python3*/site-packages/nilearn/datasets/data/\(mni152FileName)")
        }
        throw SampleError(
            .missingFile,
            "nilearn's MNI152 template not found (looked for "
                + tried.joined(separator: ", ") + "); install nilearn into .venv (Scripts/bootstrap) "
                + "or set MAMBANODE_MNI152", path: mni152FileName)
    }

    /// Any NIfTI image, with an optional mask: mask > `threshold` is the brain. A mask on another
    /// grid is resampled onto the image's (nearest).
    public static func nifti(
        image imagePath: String, mask maskPath: String?, threshold: Double, name: String? = nil,
        installHint: String? = nil
    ) throws(SampleError) -> BrainTemplate {
        let image = try read(imagePath, installHint: installHint)
        var mask: Volume? = nil
        if let maskPath {
            var m = try read(maskPath, installHint: installHint)
            if m.geometry != image.geometry { m = m.resampled(to: image.geometry, interpolation: .nearest) }
            let binary = m.voxels.map { Double($0) > threshold ? Float(1) : 0 }
            guard binary.contains(1) else {
                throw SampleError(
                    .badInput, "no voxel of the mask is above \(threshold) on the image grid", path: maskPath)
            }
            mask = Volume(geometry: image.geometry, voxels: binary)
        }
        let rule = maskPath.map { "\(URL(fileURLWithPath: $0).lastPathComponent) > \(threshold)" }
        return BrainTemplate(
            name: name ?? URL(fileURLWithPath: imagePath).lastPathComponent, image: image, mask: mask,
            imagePath: imagePath, maskRule: rule)
    }

    static func read(_ path: String, installHint: String?) throws(SampleError) -> Volume {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SampleError(.missingFile, "no such file" + (installHint.map { "; \($0)" } ?? ""), path: path)
        }
        do {
            return try NIfTI.read(contentsOf: path)
        } catch {
            throw SampleError(.badInput, error.description, path: path)
        }
    }

    /// The centre of the brain: centroid of the mask, else the centre of the image grid (LPS mm).
    public var brainCentre: SIMD3<Double> {
        let g = image.geometry
        guard let mask else {
            return g.patientPoint(ofIndex: SIMD3(Double(g.size.x - 1), Double(g.size.y - 1), Double(g.size.z - 1)) / 2)
        }
        var sum = SIMD3<Double>.zero, count = 0.0
        for k in 0..<g.size.z {
            for j in 0..<g.size.y {
                for i in 0..<g.size.x where mask.voxels[g.offset(i, j, k)] > 0 {
                    sum += SIMD3(Double(i), Double(j), Double(k))
                    count += 1
                }
            }
        }
        return g.patientPoint(ofIndex: sum / count)
    }

    /// A high percentile of the non-zero voxels: the intensity scaled to the series' peak, so
    /// uint8 templates and float templates give series of the same range.
    public func robustMaximum(percentile: Double = 0.999) -> Float {
        let values = image.voxels.filter { $0 > 0 }.sorted()
        guard !values.isEmpty else { return 1 }
        return values[min(values.count - 1, Int(Double(values.count - 1) * percentile))]
    }
}
