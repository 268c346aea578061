import Dispatch
import Synchronization

/// Waits for an async operation from a synchronous context that is not on the cooperative pool (the admin API's
/// blocking threads, a signal-handling dispatch queue), so blocking here cannot starve the awaited task.
/// Never call it from a task or an event loop.
public func waitBlocking<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await operation()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
