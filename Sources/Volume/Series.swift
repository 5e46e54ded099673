import DICOM
import Foundation

/// The instances of one Series Instance UID, as found on disk or in the store index.
///
/// ```swift
/// let series = try Series.scan(directory: "/incoming/study")   // headers only, in parallel
/// let assembly = try series[0].assemble()                       // stacks → geometry → voxels
/// print(assembly.volume.geometry, assembly.warnings)
/// ```
public struct Series: Sendable, Codable {
    public var seriesInstanceUID: String
    public var instances: [Instance]
    /// Files found while scanning that could not be used, with the reason (not errors: a folder
    /// may hold DICOMDIRs, reports or other files).
    public var skipped: [SkippedFile]

    public init(seriesInstanceUID: String, instances: [Instance], skipped: [SkippedFile] = []) {
        self.seriesInstanceUID = seriesInstanceUID
        self.instances = instances
        self.skipped = skipped
    }

    public struct SkippedFile: Sendable, Codable, Equatable {
        public var path: String
        public var reason: String
    }

    /// Groups instances by Series Instance UID, in order of first appearance of each series.
    public static func group(_ instances: [Instance]) -> [Series] {
        var order: [String] = []
        var bySeries: [String: [Instance]] = [:]
        for instance in instances {
            if bySeries[instance.seriesInstanceUID] == nil { order.append(instance.seriesInstanceUID) }
            bySeries[instance.seriesInstanceUID, default: []].append(instance)
        }
        return order.map { Series(seriesInstanceUID: $0, instances: bySeries[$0]!) }
    }

    /// Reads the headers of every regular file under `directory` (recursively, in parallel, without
    /// pixels) and groups the images into series. Files that are not images are listed in the
    /// `skipped` of every series returned (they cannot be attributed to one).
    public static func scan(directory: String, threads: Int? = nil) throws(VolumeError) -> [Series] {
        let files = listFiles(under: directory)
        guard !files.isEmpty else { throw VolumeError(.noImages, "no files under \(directory)") }
        return scan(files: files, threads: threads)
    }

    /// Reads the headers of `files` in parallel and groups the images into series.
    public static func scan(files: [String], threads: Int? = nil) -> [Series] {
        let results = parallelMap(files, threads: threads) { path -> Result<Instance, VolumeError> in
            do throws(VolumeError) { return .success(try Instance(contentsOf: path)) } catch { return .failure(error) }
        }
        var instances: [Instance] = []
        var skipped: [SkippedFile] = []
        for (path, result) in zip(files, results) {
            switch result {
            case .success(let instance): instances.append(instance)
            case .failure(let error): skipped.append(SkippedFile(path: path, reason: error.description))
            }
        }
        var series = group(instances)
        for index in series.indices { series[index].skipped = skipped }
        return series
    }

    static func listFiles(under directory: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [directory] }
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let path = directory + "/" + relative
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                !relative.hasPrefix("."), !relative.contains("/.")
            {
                files.append(path)
            }
        }
        return files.sorted()
    }
}
