import Foundation

/// Runs blocking work on a thread of its own, never on Swift's cooperative pool (docs/style-guide.md §6):
/// DCMTK associations and whole inference jobs block for seconds to minutes, and a pool thread
/// held that long starves every other task. `stackSize` (bytes) for deep native call stacks;
/// Foundation's default otherwise. The node's job executor uses it too.
public func runOnDedicatedThread<T: Sendable>(
    name: String, stackSize: Int? = nil,
    _ body: @escaping @Sendable () -> T
) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }
}
