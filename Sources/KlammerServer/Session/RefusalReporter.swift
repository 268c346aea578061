import KlammerBroker
import KlammerCrypto
import KlammerProtocol

/// Turns a connection's refused requests into ``RefusalEvent``s for the audit log (SPEC.md §10.4). Protocol slips
/// that are no decision about the participant's submission (UNKNOWN_REQUEST, UNEXPECTED_FRAME) and resource errors
/// (4xxx, 5xxx) are not reported; everything the broker's checks refused is.
struct RefusalReporter: Sendable {
    let fingerprint: String
    let participant: String
    let report: @Sendable (RefusalEvent) -> Void
    /// Bounds the audit entries of this connection (nil: every refusal is reported).
    var budget: RefusalBudget? = nil
    /// Closes the connection once the budget is used up.
    var onExhausted: @Sendable (ProtocolError) -> Void = { _ in }

    static let unreported: Set<ErrorCode> = [.unknownRequest, .unexpectedFrame]

    static func isReported(_ code: ErrorCode) -> Bool {
        code.rawValue < 4000 && !unreported.contains(code)
    }

    func submission(requestID: UInt32, _ error: ProtocolError, envelope: Envelope?) {
        guard Self.isReported(error.code) else { return }
        var details: [String: String] = [:]
        if let envelope {
            details["envelope_sha256"] = envelope.digest(sha256: SHA256.hash).hex
            details["envelope_sender"] = envelope.sender.rawValue
            details["client_message_id"] = String(envelope.clientMessageID.prefix(128))
            details["recipients"] =
                envelope.recipients.prefix(16).map(\.rawValue).joined(separator: ",")
                + (envelope.recipients.count > 16 ? ",…" : "")
        }
        record(
            RefusalEvent(
                kind: .submission, participant: participant, fingerprint: fingerprint, code: error.code,
                reason: error.message, requestID: requestID, details: details))
    }

    func acknowledgement(requestID: UInt32, _ error: ProtocolError) {
        // An ACK for a message no longer leased is routine (lease timeout, redelivery); only decisions are recorded.
        guard Self.isReported(error.code), error.code != .unknownMessage else { return }
        record(
            RefusalEvent(
                kind: .acknowledgement, participant: participant, fingerprint: fingerprint,
                code: error.code, reason: error.message, requestID: requestID))
    }

    /// Reports `event` within the budget; the first refusal beyond it becomes one aggregate event and closes the
    /// connection, later ones are not reported (each entry is an fsynced audit line: a refusal loop must not fill
    /// the disk).
    private func record(_ event: RefusalEvent) {
        switch budget?.refusal() ?? .record {
        case .record:
            report(event)
        case .suppress:
            break
        case .exhausted(let refused):
            let perSecond = budget?.perSecond ?? 0
            let error = ProtocolError(
                .rateLimited,
                "more than \(perSecond) refused requests per second on this connection (limits.max_refusals_per_second); the connection is closed. Fix the refused requests before reconnecting"
            )
            report(
                RefusalEvent(
                    kind: .refusalsExceeded, participant: participant, fingerprint: fingerprint, code: .rateLimited,
                    reason: error.message,
                    details: [
                        "refusals": "\(refused)", "last_code": event.code.name,
                        "last_reason": String(event.reason.prefix(256))
                    ]))
            onExhausted(error)
        }
    }
}
