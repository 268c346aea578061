import Synchronization

/// One W4 round: counts the recipients' acknowledgements of one message and wakes the sender when the last one
/// arrived (or when the round timed out). Acknowledgements may arrive before the sender starts waiting.
final class FanOutRound: Sendable {
    private struct State {
        var remaining: Int
        var finished: Bool?  // nil while open; true when all acked, false when timed out
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state: Mutex<State>

    init(recipients: Int) {
        state = Mutex(State(remaining: recipients))
    }

    /// One recipient acknowledged.
    func acknowledged() {
        finish { state in
            state.remaining -= 1
            return state.remaining <= 0 ? true : nil
        }
    }

    /// Ends the round as failed unless it already completed.
    func timeOut() {
        finish { _ in false }
    }

    /// True once every recipient acknowledged; false if the round timed out first.
    func wait() async -> Bool {
        await withCheckedContinuation { continuation in
            let ready: Bool? = state.withLock { state in
                if let finished = state.finished { return finished }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func finish(_ decide: (inout State) -> Bool?) {
        let wake: (CheckedContinuation<Bool, Never>, Bool)? = state.withLock { state in
            guard state.finished == nil, let outcome = decide(&state) else { return nil }
            state.finished = outcome
            defer { state.waiter = nil }
            return state.waiter.map { ($0, outcome) }
        }
        if let (waiter, outcome) = wake { waiter.resume(returning: outcome) }
    }
}
