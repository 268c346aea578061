import Synchronization

/// A shared, lock-protected value for the bench's concurrent tasks (a `Mutex` cannot be captured by task closures).
final class BenchBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
