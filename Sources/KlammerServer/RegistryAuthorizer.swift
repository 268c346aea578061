public import KlammerBroker
public import KlammerTLS
import Logging

extension PeerAuthorizer {
    /// Admits a TLS peer only if its leaf-certificate fingerprint belongs to an active participant in `registry`.
    /// Identity is the fingerprint, never a name parsed from the certificate.
    ///
    /// klammerd does not use this: a peer refused here only sees its connection close, which a client cannot tell
    /// from a broker restart. `BrokerDaemon` admits every certificate that chains to the CA and lets the session
    /// refuse the participant with an ERROR frame naming the code (SPEC.md §1.12, §4.5). This authorizer remains for
    /// listeners that must not let unregistered peers reach any application code.
    public static func registry(_ registry: ParticipantRegistry) -> PeerAuthorizer {
        PeerAuthorizer { peer in
            guard let participant = registry.participant(forFingerprint: peer.fingerprint) else {
                return .reject(
                    reason:
                        "certificate \(peer.fingerprint.hex) is not registered to any participant; an operator must add it with 'klammerctl participant add' or 'participant cert add'"
                )
            }
            switch participant.status {
            case .active:
                return .accept
            case .suspended:
                return .reject(reason: "participant \(participant.id) is suspended; ask the operator to resume it")
            case .revoked:
                return .reject(reason: "participant \(participant.id) is revoked")
            }
        }
    }
}
