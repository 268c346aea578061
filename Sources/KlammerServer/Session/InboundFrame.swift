public import KlammerProtocol

/// What the broker's frame decoder hands to the session: a decoded frame, or a SEND_BEGIN whose envelope is kept
/// as raw bytes.
///
/// SEND_BEGIN is special because a bad *envelope* (too many recipients, too large, invalid) fails one request, not
/// the connection (SPEC.md §6 scopes `TOO_MANY_RECIPIENTS`, `MESSAGE_TOO_LARGE`, `INVALID_ENVELOPE` to the request;
/// SPEC.md §9.2). The frame itself (form byte, blob length, no trailing bytes) is still checked strictly; the
/// envelope is parsed by ``KlammerBroker/Broker/beginSubmission(from:envelopeBytes:signatureForm:)`` in the order of
/// SPEC.md §7.1.
public enum InboundFrame: Sendable, Equatable {
    /// Any frame but SEND_BEGIN, decoded strictly by `FrameParser`.
    case frame(Frame)
    /// SEND_BEGIN with its envelope bytes unparsed.
    case sendBegin(requestID: UInt32, form: SignatureForm, envelopeBytes: [UInt8])

    /// The frame type.
    public var type: FrameType {
        switch self {
        case .frame(let f): return f.type
        case .sendBegin: return .sendBegin
        }
    }
}
