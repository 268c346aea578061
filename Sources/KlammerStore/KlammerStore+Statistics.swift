import Foundation

/// How many entries one recipient's queue holds, by state.
public struct QueueStatistics: Sendable, Equatable, Codable {
    /// The recipient (queue id).
    public var recipient: String
    /// Deliverable now.
    public var ready: Int
    /// Leased to a consumer, not yet acknowledged.
    public var inFlight: Int
    /// Waiting for a NACK delay to pass.
    public var delayed: Int
    /// In the dead-letter queue.
    public var deadLettered: Int
    /// Everything not yet acknowledged, expired or purged.
    public var total: Int { ready + inFlight + delayed + deadLettered }

    public init(recipient: String, ready: Int, inFlight: Int, delayed: Int, deadLettered: Int) {
        self.recipient = recipient
        self.ready = ready
        self.inFlight = inFlight
        self.delayed = delayed
        self.deadLettered = deadLettered
    }
}

extension KlammerStore {
    /// Entries of `recipient`'s queue in any state (ready, in flight, delayed, dead-lettered): O(1).
    public func queuedCount(recipient: String) -> Int {
        cell.m.withLock { $0.queues[recipient]?.entries.count ?? 0 }
    }

    /// The queues' entry counts, sorted by recipient (a snapshot under the store lock; O(entries)).
    public func queueStatistics() -> [QueueStatistics] {
        cell.m.withLock { s in
            s.queues.map { recipient, queue in
                var stats = QueueStatistics(recipient: recipient, ready: 0, inFlight: 0, delayed: 0, deadLettered: 0)
                for entry in queue.entries.values {
                    switch entry.state {
                    case .ready: stats.ready += 1
                    case .inFlight: stats.inFlight += 1
                    case .delayed: stats.delayed += 1
                    case .deadLettered: stats.deadLettered += 1
                    }
                }
                return stats
            }
        }
        .sorted { $0.recipient < $1.recipient }
    }

    /// Why the store cannot take writes, or nil if it can: closed, the write path poisoned by an earlier I/O error,
    /// or the store directory not writable (a probe file is created, synced and removed).
    public func writeProblem() -> String? {
        if cell.m.withLock({ $0.closed }) { return "the store is closed" }
        if let poison = writer.poisonError { return "the write path failed earlier and refuses writes until restart: \(poison)" }
        let probe = config.directory + "/.health-probe"
        do {
            let fd = try io.open(probe, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o600)
            defer { io.close(fd); try? io.unlink(probe) }
            let byte: [UInt8] = [0]
            try byte.withUnsafeBytes { try io.pwrite(fd, $0, offset: 0, path: probe) }
        } catch {
            let reason = (error as? FileIOError).map { "\($0.operation): \($0.reason)" } ?? "\(error)"
            return "cannot write in \(config.directory): \(reason)"
        }
        return nil
    }
}
