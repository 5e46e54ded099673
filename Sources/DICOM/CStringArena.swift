import Foundation

/// Keeps C copies of Swift strings alive while a shim call reads the request structs that point
/// at them; frees them all when released.
package final class CStringArena {
    private var storage: [UnsafeMutablePointer<CChar>] = []

    package init() {}

    package func callAsFunction(_ text: String?) -> UnsafePointer<CChar>? {
        guard let text else { return nil }
        guard let copy = strdup(text) else { fatalError("strdup: out of memory") }
        storage.append(copy)
        return UnsafePointer(copy)
    }

    deinit { storage.forEach { free($0) } }
}
