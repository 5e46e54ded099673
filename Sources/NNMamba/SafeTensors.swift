import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors, format: an
/// 8-byte little-endian header length n, n bytes of JSON {name: {dtype, shape, data_offsets}},
/// then the raw little-endian tensor bytes; offsets are relative to the end of the header).
///
/// Everything in the header is checked when the file is opened: sizes, offsets, dtype sizes and
/// overlaps; a bad file throws `NNMambaError` (`.malformedFile`, `.io`) naming the file or key.
///
/// ```swift
/// let file = try SafeTensorsFile(path: "weights.safetensors")
/// let w = try file.tensor("in_conv.conv.0.weight")   // float32 Tensor
/// ```
public final class SafeTensorsFile: @unchecked Sendable {
    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        public let dtype: String
        public let shape: [Int]
        /// Byte range inside the data section.
        public let begin: Int, end: Int
    }

    public let path: String
    /// Entries by name, as stored (no key normalisation).
    public let entries: [String: Entry]
    /// Names in data order.
    public let names: [String]
    private let base: UnsafeRawPointer?
    private let mappedSize: Int
    private let dataStart: Int

    /// Bytes per element of the dtypes the format defines.
    static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
        "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1
    ]

    /// Opens and validates `path`.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw NNMambaError(.io, key: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw NNMambaError(.io, key: path, "cannot stat") }
        let size = Int(st.st_size)
        guard size >= 8 else {
            throw NNMambaError(.malformedFile, key: path, "\(size) bytes, shorter than the 8-byte header length")
        }
        let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let map, map != MAP_FAILED else { throw NNMambaError(.io, key: path, "cannot map") }
        base = UnsafeRawPointer(map)
        mappedSize = size
        var headerLength: UInt64 = 0
        withUnsafeMutableBytes(of: &headerLength) { $0.copyMemory(from: UnsafeRawBufferPointer(start: map, count: 8)) }
        headerLength = UInt64(littleEndian: headerLength)
        do {
            guard headerLength <= UInt64(size - 8) else {
                throw NNMambaError(
                    .malformedFile, key: path,
                    "header claims \(headerLength) bytes but only \(size - 8) follow")
            }
            dataStart = 8 + Int(headerLength)
            let json = Data(bytes: map + 8, count: Int(headerLength))
            (entries, names) = try Self.parseHeader(json, dataSize: size - dataStart, path: path)
        } catch {
            munmap(map, size)
            throw error
        }
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), mappedSize) }
    }

    private static func parseHeader(
        _ json: Data, dataSize: Int, path: String
    ) throws
        -> ([String: Entry], [String])
    {
        guard let object = try? JSONSerialization.jsonObject(with: json),
            let dict = object as? [String: Any]
        else {
            throw NNMambaError(.malformedFile, key: path, "header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        for (name, value) in dict where name != "__metadata__" {
            guard let info = value as? [String: Any],
                let dtype = info["dtype"] as? String,
                let shapeAny = info["shape"] as? [Any],
                let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2
            else {
                throw NNMambaError(.malformedFile, key: name, "header entry lacks dtype/shape/data_offsets")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0, i < 1 << 40 else {
                    throw NNMambaError(.malformedFile, key: name, "bad shape \(shapeAny)")
                }
                return i
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0 else {
                    throw NNMambaError(.malformedFile, key: name, "bad data_offsets \(offsetsAny)")
                }
                return i
            }
            guard let elementSize = dtypeSizes[dtype] else {
                throw NNMambaError(.unsupportedDType, key: name, "unknown dtype \(dtype)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= dataSize else {
                throw NNMambaError(
                    .malformedFile, key: name,
                    "data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section (truncated file?)")
            }
            let numel = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard end - begin == numel * elementSize else {
                throw NNMambaError(
                    .malformedFile, key: name, actualShape: shape,
                    "\(end - begin) bytes for \(numel) \(dtype) values")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        let names = entries.keys.sorted { (entries[$0]!.begin, $0) < (entries[$1]!.begin, $1) }
        var previousEnd = 0
        for name in names {
            let e = entries[name]!
            guard e.begin >= previousEnd || e.begin == e.end else {
                throw NNMambaError(.malformedFile, key: name, "overlaps the previous tensor")
            }
            previousEnd = max(previousEnd, e.end)
        }
        return (entries, names)
    }

    /// Raw bytes of a tensor (valid while the file object lives).
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let e = entries[name] else { throw NNMambaError(.missingKey, key: name, "not in \(path)") }
        return UnsafeRawBufferPointer(start: base! + dataStart + e.begin, count: e.end - e.begin)
    }

    /// A float32 copy of tensor `name` (F32 as is; F64 rounded to float32). Other dtypes throw.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw NNMambaError(.missingKey, key: name, "not in \(path)") }
        let raw = try bytes(name)
        let t = Tensor(zeros: e.shape)
        switch e.dtype {
        case "F32":
            for i in 0..<t.count {
                t[i] = Float(
                    bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case "F64":
            for i in 0..<t.count {
                t[i] = Float(
                    Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        default:
            throw NNMambaError(
                .unsupportedDType, key: name, actualShape: e.shape,
                "dtype \(e.dtype), expected F32")
        }
        return t
    }

    /// Writes float32 tensors as a safetensors file (names sorted, as the reference writer does).
    public static func write(_ tensors: [String: Tensor], to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        for name in names {
            let t = tensors[name]!
            for i in 0..<t.count { withUnsafeBytes(of: t[i].bitPattern.littleEndian) { file.append(contentsOf: $0) } }
        }
        do { try file.write(to: URL(fileURLWithPath: path)) } catch {
            throw NNMambaError(.io, key: path, "cannot write: \(error)")
        }
    }
}
