import Foundation
import Volume

/// Fuzz target over the Swift side of reading a series: metadata extraction
/// (`Instance`), grouping and stacking (`Series`), geometry checks and layout, pixel decoding into
/// a `Volume`, and the reorientation inference starts with. The shim's own reader has its C++
/// target (Fuzz/dataset_fuzzer.cpp); this one finds what hostile headers do to the Swift code —
/// traps on overflow or out-of-range indices, and allocations a header could make unbounded.
///
/// One input holds up to 16 files (Part 10 or raw data sets) joined by `separator`; a series
/// needs several files, so the seeds are whole small series (Scripts/fuzz volume).
enum VolumeFuzzTarget {
    /// Between the files of one input; also the libFuzzer dictionary entry, so mutations keep it.
    static let separator = Array("--mambanode-fuzz-file--".utf8)
    static let maximumFiles = 16
    /// Reorientation copies the volume; beyond this many voxels the fuzzer would only measure memcpy.
    static let maximumReorientedVoxels = 1 << 22

    /// The files of one input.
    static func files(in bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var parts: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex, index = bytes.startIndex
        while index + separator.count <= bytes.endIndex, parts.count < maximumFiles - 1 {
            if bytes[index] == separator[0], bytes[index..<(index + separator.count)].elementsEqual(separator) {
                parts.append(bytes[start..<index])
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(bytes[start...])
        return parts
    }

    /// Writes the input's files into `folder` and reads them as `mambanode volume` does. Every
    /// outcome — a volume, a typed error, skipped files — is fine; a crash, a trap or a sanitizer
    /// report is the finding.
    static func run(_ bytes: [UInt8], folder: String) {
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var paths: [String] = []
        for (n, file) in files(in: bytes).enumerated() {
            let path = folder + "/\(n).dcm"
            guard FileManager.default.createFile(atPath: path, contents: Data(file)) else { continue }
            paths.append(path)
        }
        defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
        var options = AssemblyOptions()
        options.threads = 1
        for series in Series.scan(files: paths, threads: 1) {
            guard let assembly = try? series.assemble(options: options) else { continue }
            if assembly.volume.geometry.voxelCount <= maximumReorientedVoxels { _ = assembly.volume.reoriented() }
        }
    }

    /// Per process, in memory where possible.
    static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return base + "/mn-volume-fuzz-\(getpid())"
    }()
}

#if FUZZING
    /// libFuzzer's driver (Scripts/fuzz builds this target with -sanitize=fuzzer,address). SwiftPM
    /// names an executable's entry point itself, so `main` below hands over to the driver instead of
    /// libFuzzer's own `main`.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif

@main struct VolumeFuzzMain {
    /// With the fuzzer: libFuzzer's command line. Without: replays the inputs named on the
    /// command line (`VolumeFuzz FILE…`), as the regression test does.
    static func main() {
        #if FUZZING
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(
                LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                    VolumeFuzzTarget.run(
                        data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [],
                        folder: VolumeFuzzTarget.scratch)
                    return 0
                })
        #else
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                    exit(1)
                }
                VolumeFuzzTarget.run(Array(data), folder: VolumeFuzzTarget.scratch)
                print("\(path): ok")
            }
        #endif
    }
}
