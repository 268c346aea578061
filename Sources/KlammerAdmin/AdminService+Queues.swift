import Foundation
import KlammerBroker
import KlammerProtocol
import KlammerStore

extension AdminService {
    /// The queue, message and store operations (SPEC.md §11.3). They need the running broker.
    func performOperation(_ route: AdminRoute, body: [UInt8]) throws -> (Response, [String: String]) {
        if case .reload = route {
            guard let reloader else {
                throw AdminError(.notSupported, "this daemon cannot reload; restart it instead")
            }
            let view: AdminReloadView
            do {
                view = try reloader()
            } catch {
                throw AdminError(.reloadFailed, "nothing was changed; the previous TLS material stays in force: \(error)")
            }
            return (
                try Self.json(200, view),
                [
                    "ca_certificates": "\(view.caCertificates)", "crls": "\(view.crls)",
                    "broker_certificate": view.brokerCertificate, "connections_closed": "\(view.connectionsClosed)",
                    "restart_required": view.restartRequired.joined(separator: ",")
                ]
            )
        }
        guard let broker = brokerProvider() else {
            throw AdminError(.brokerUnavailable, "the broker is not running (starting or shutting down); try again in a moment")
        }
        switch route {
        case .listQueues:
            return (try Self.json(200, broker.queueStatistics().map(AdminQueueView.init)), [:])
        case .showQueue(let id):
            let stats =
                broker.queueStatistics().first { $0.recipient == id }
                ?? QueueStatistics(recipient: id, ready: 0, inFlight: 0, delayed: 0, deadLettered: 0)
            try knownQueue(id, stats: stats)
            return (try Self.json(200, AdminQueueView(stats)), [:])
        case .peekQueue(let id, let limit):
            try knownQueue(id)
            let entries = try broker.peek(queue: id, limit: limit).map(AdminQueuedMessageView.init)
            return (try Self.json(200, entries), ["count": "\(entries.count)"])
        case .listDeadLetters(let id?, let limit):
            try knownQueue(id)
            let entries = try broker.peek(queue: id, limit: limit, deadLettered: true).map(AdminQueuedMessageView.init)
            return (try Self.json(200, entries), ["count": "\(entries.count)"])
        case .listDeadLetters(nil, let limit):
            var result: [AdminDeadLetterQueueView<AdminQueuedMessageView>] = []
            var remaining = limit
            for queue in broker.queueStatistics() where queue.deadLettered > 0 && remaining > 0 {
                let entries = try broker.peek(queue: queue.recipient, limit: remaining, deadLettered: true)
                remaining -= entries.count
                result.append(.init(queue: queue.recipient, messages: entries.map(AdminQueuedMessageView.init)))
            }
            return (try Self.json(200, result), ["queues": "\(result.count)"])
        case .replayDeadLetters(let id):
            try knownQueue(id)
            let request = body.isEmpty ? QueueSelectionRequest() : try Self.decode(QueueSelectionRequest.self, body)
            let ids = try messageIDs(request.messageIds)
            let result = AdminQueueOperationView(
                try Self.unknownMessageIsBadRequest { try waitBlocking { try await broker.replayDeadLetters(queue: id, messageIDs: ids) } })
            return (try Self.json(200, result), ["replayed": result.messageIds.joined(separator: ",")])
        case .purgeQueue(let id):
            try knownQueue(id)
            let request = body.isEmpty ? QueueSelectionRequest() : try Self.decode(QueueSelectionRequest.self, body)
            guard request.confirm == true else {
                throw AdminError(
                    .confirmationRequired, "purging deletes messages for good; send {\"confirm\": true} (klammerctl queue purge --yes)")
            }
            let ids = try messageIDs(request.messageIds)
            let result = AdminQueueOperationView(
                try Self.unknownMessageIsBadRequest { try waitBlocking { try await broker.purge(queue: id, messageIDs: ids) } })
            return (
                try Self.json(200, result),
                ["purged": result.messageIds.joined(separator: ","), "skipped_in_flight": "\(result.skippedInFlight)"]
            )
        case .traceMessage(let text):
            guard let id = MessageID(hex: text) else {
                throw AdminError(.badRequest, "'\(text.prefix(100))' is not a message id (32 hex digits)")
            }
            guard let trace = try broker.trace(id) else {
                throw AdminError(.unknownMessage, "no message \(text) is in the routing slip log")
            }
            return (try Self.json(200, AdminMessageTraceView(trace)), ["receipts": "\(trace.receipts.count)"])
        case .scrubStore:
            let report = try broker.store.scrub()
            let view = AdminScrubView(
                clean: report.isClean, segments: report.segments, records: report.records, logBytes: report.logBytes,
                blobs: report.blobs,
                problems: report.problems.map { .init(file: $0.file, offset: $0.offset, length: $0.length, reason: $0.reason) })
            return (try Self.json(report.isClean ? 200 : 409, view), ["clean": "\(report.isClean)", "problems": "\(report.problems.count)"])
        default:
            throw AdminError(.internal, "route \(route.action) is not an operation")
        }
    }

    /// Queues are named by participant id; an id that is neither registered nor has a queue is a typo.
    private func knownQueue(_ id: String, stats: QueueStatistics? = nil) throws {
        if registry.participant(id: id) != nil { return }
        if let stats, stats.total > 0 { return }
        if brokerProvider()?.queueStatistics().contains(where: { $0.recipient == id }) == true { return }
        throw AdminError(.unknownQueue, "no queue \(id): queues are named by participant id ('klammerctl queue list')")
    }

    private func messageIDs(_ texts: [String]?) throws -> [MessageID]? {
        guard let texts else { return nil }
        guard texts.count <= Broker.maxOperationEntries else {
            throw AdminError(.badRequest, "at most \(Broker.maxOperationEntries) message ids per call")
        }
        return try texts.map { text in
            guard let id = MessageID(hex: text) else {
                throw AdminError(.badRequest, "'\(text.prefix(100))' is not a message id (32 hex digits)")
            }
            return id
        }
    }

    /// A message id the operation cannot find is the caller's mistake (400), not a server failure.
    static func unknownMessageIsBadRequest<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ProtocolError where error.code == .unknownMessage {
            throw AdminError(.unknownMessage, error.message, status: 400)
        }
    }
}
