import KlammerProtocol
import KlammerStore

extension Broker {
    /// Maps a store failure to the protocol error a client sees (retryable 4xxx where retrying can help).
    static func storageRefusal(_ error: any Error, doing what: String) -> ProtocolError {
        if let p = error as? ProtocolError { return p }
        guard let s = error as? StoreError else {
            return ProtocolError(.internalError, "unexpected failure while \(what): \(error)")
        }
        switch s.code {
        case .diskFull: return ProtocolError(.storageFull, "the broker's disk is full while \(what); retry later")
        case .leaseNotHeld:
            return ProtocolError(.unknownMessage, "the lease is no longer held (\(s.message)) while \(what); fetch the message again")
        case .tooLarge: return ProtocolError(.messageTooLarge, "\(s.message) (while \(what))")
        case .closed, .writePathPoisoned:
            return ProtocolError(.storageUnavailable, "the store is unavailable while \(what) (\(s.message)); retry later")
        default: return ProtocolError(.internalError, "store failure while \(what): \(s)")
        }
    }
}
