import CNNKernels
import COpenBLAS

/// Choosing OpenBLAS's core type when its own detection falls back to a generic kernel.
///
/// OpenBLAS 0.3.21 does not recognise some current CPUs and then runs a generic SSE kernel
/// (~10× slower). It reads `OPENBLAS_CORETYPE` only when the library loads, so the CLI checks
/// `openblas_get_corename()` at start and, when this returns a core, re-executes itself with the
/// variable set (docs/platform-notes.md §1, §3). This type only decides; it has no side effects.
public enum OpenBLASCore {
    /// Core names whose kernels use AVX-512.
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
    /// Core names whose kernels use AVX2+FMA (or better).
    static let avx2Cores: Set<String> = avx512Cores.union(["haswell", "zen"])

    /// The `OPENBLAS_CORETYPE` to set, or nil to keep the current choice.
    ///
    /// - Parameters:
    ///   - corename: what `openblas_get_corename()` reports (case-insensitive).
    ///   - simdLevel: `mn_cpu_simd_level()` bits (1 AVX2+FMA, 2 AVX-512F, 4 Skylake-X AVX-512 set).
    ///   - environment: the process environment; a user-set `OPENBLAS_CORETYPE` is never overridden.
    /// - Returns: "SkylakeX" on a CPU with the Skylake-X AVX-512 set, "Haswell" on one with AVX2+FMA,
    ///   when the detected core does not use them; otherwise nil.
    public static func override(corename: String, simdLevel: Int32, environment: [String: String]) -> String? {
        if let user = environment["OPENBLAS_CORETYPE"], !user.isEmpty { return nil }
        let core = corename.lowercased()
        if simdLevel & 4 != 0 { return avx512Cores.contains(core) ? nil : "SkylakeX" }
        if simdLevel & 1 != 0 { return avx2Cores.contains(core) ? nil : "Haswell" }
        return nil
    }
}

extension OpenBLASCore {
    /// The core OpenBLAS is using in this process.
    public static var currentName: String { String(cString: openblas_get_corename()) }

    /// `override(…)` for this process and CPU: the core type to re-execute with, or nil.
    public static func recommendedOverride(environment: [String: String]) -> String? {
        override(corename: currentName, simdLevel: mn_cpu_simd_level(), environment: environment)
    }
}
