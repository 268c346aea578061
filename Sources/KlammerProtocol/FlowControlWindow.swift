/// The upload byte window of one connection (SPEC.md §4.5), like HTTP/2's connection window.
///
/// The sender of CHUNK frames calls `consume` before sending; the receiver calls `consume` for
/// every received CHUNK and throws FLOW_CONTROL_VIOLATION if the peer overran it. WINDOW_UPDATE
/// increments are applied with `grant`.
public struct FlowControlWindow: Hashable, Sendable {
    /// The largest window a connection may have (2^31 - 1), as in HTTP/2.
    public static let maxWindow: UInt32 = 0x7FFF_FFFF

    /// Bytes that may currently be sent.
    public private(set) var available: UInt32

    /// Creates a window with the initial size announced in WELCOME.
    public init(initial: UInt32) { self.available = min(initial, Self.maxWindow) }

    /// Accounts for `count` payload bytes; throws FLOW_CONTROL_VIOLATION if they do not fit.
    public mutating func consume(_ count: Int) throws {
        guard count >= 0, count <= Int(available) else {
            throw ProtocolError(.flowControlViolation, "chunk of \(count) bytes exceeds window of \(available) bytes")
        }
        available -= UInt32(count)
    }

    /// Applies a WINDOW_UPDATE increment; throws FLOW_CONTROL_VIOLATION on zero or overflow past 2^31-1.
    public mutating func grant(_ increment: UInt32) throws {
        guard increment > 0 else {
            throw ProtocolError(.flowControlViolation, "WINDOW_UPDATE with zero increment")
        }
        guard UInt64(available) + UInt64(increment) <= UInt64(Self.maxWindow) else {
            throw ProtocolError(.flowControlViolation, "window would exceed 2^31-1")
        }
        available += increment
    }
}
