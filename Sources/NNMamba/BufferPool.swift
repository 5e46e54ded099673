import Synchronization

/// Large float buffers kept for reuse while a forward pass runs.
///
/// A network allocates the same few sizes again and again (each level's activations, the im2col
/// blocks, the Mamba scratch). glibc serves every allocation above 32 MiB with a fresh `mmap`, so
/// each one costs a page fault per 4 KiB page and the kernel zeroing it. Inside `reusing(_:)` a
/// freed buffer of at least `minimumBytes` is kept, by exact size, for the next allocation of that
/// size; when the outermost scope ends, every kept buffer is freed, so an idle node holds none.
public enum BufferPool {
    /// Smaller buffers come from malloc's own free lists and gain nothing here.
    static let minimumBytes = 1 << 20
    /// At most this much is kept; a freed buffer beyond it is freed at once. More would keep
    /// buffers whose size is not asked for again before the pass's peak, adding to the node's
    /// peak memory: `bench engine` at 128³ went from 4.6 to 4.1–4.5 s with 128–256 MiB; 1 GiB
    /// gained nothing more and peaked at 1.15 GiB instead of 0.7. `bench node` with the three
    /// sample CT models peaked at 1044 MiB with 256 MiB here, 992 MiB with 128.
    static let capacityBytes = 128 << 20

    /// A kept buffer; only the pool touches it until it is handed out again.
    private struct Buffer: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    private struct State {
        var scopes = 0
        var free: [Int: [Buffer]] = [:]
        var keptBytes = 0
    }

    private static let state = Mutex(State())

    /// Runs `body` with buffer reuse on; scopes nest and may overlap across threads.
    public static func reusing<T>(_ body: () throws -> T) rethrows -> T {
        state.withLock { $0.scopes += 1 }
        defer {
            let drained = state.withLock { s -> [Buffer] in
                s.scopes -= 1
                guard s.scopes == 0 else { return [] }
                let all = s.free.values.flatMap { $0 }
                s.free = [:]
                s.keptBytes = 0
                return all
            }
            for buffer in drained { buffer.pointer.deallocate() }
        }
        return try body()
    }

    /// A 64-byte aligned buffer of `count` floats, uninitialised (a reused one holds old values).
    static func allocate(floats count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(count, 1) * 4
        if bytes >= minimumBytes,
            let reused = state.withLock({ s -> Buffer? in
                guard let buffer = s.free[bytes]?.popLast() else { return nil }
                s.keptBytes -= bytes
                return buffer
            })
        {
            return reused.pointer.bindMemory(to: Float.self, capacity: max(count, 1))
        }
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Returns a buffer from `allocate(floats:)` of the same `count`.
    static func release(_ pointer: UnsafeMutablePointer<Float>, floats count: Int) {
        let bytes = max(count, 1) * 4
        let raw = UnsafeMutableRawPointer(pointer)
        if bytes >= minimumBytes {
            let buffer = Buffer(pointer: raw)
            let kept = state.withLock { s -> Bool in
                guard s.scopes > 0, s.keptBytes + bytes <= capacityBytes else { return false }
                s.free[bytes, default: []].append(buffer)
                s.keptBytes += bytes
                return true
            }
            if kept { return }
        }
        raw.deallocate()
    }

    /// Bytes kept for reuse now (for tests).
    static var keptBytes: Int { state.withLock { $0.keptBytes } }
}
