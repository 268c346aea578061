import KlammerCrypto
public import KlammerProtocol

extension Broker {
    /// The signed directory answer for `participant` (SPEC.md §5.11): its current encryption certificates, an empty list
    /// if it is suspended or revoked, signed with the receipt key and valid for ``BrokerConfiguration/directoryTTL``.
    /// A certificate the current trust store refuses (revoked by a CRL loaded since, expired) is not listed.
    ///
    /// - Throws: `UNKNOWN_PARTICIPANT` if the id is not registered; `INTERNAL_ERROR` if the broker cannot sign.
    public func directoryStatement(for participant: ParticipantID) throws -> (statement: DirectoryStatement, signature: [UInt8]) {
        guard let entry = registry.participant(id: participant.description) else {
            throw ProtocolError(.unknownParticipant, "participant \(participant) is not registered at this broker; check the id")
        }
        let now = configuration.now()
        var certificates: [[UInt8]] = []
        if entry.isActive {
            for registered in entry.certificates {
                guard let certificate = registeredCertificate(registered), certificate.isEncryptionCertificate(at: now),
                    certificate.klammerParticipantID == entry.id, hasValidStatus(certificate, of: entry.id)
                else { continue }
                certificates.append(certificate.derBytes)
                if certificates.count == DirectoryStatement.maxCertificates { break }
            }
        }
        let issuedAt = configuration.nowMillis
        let statement = try DirectoryStatement(
            participant: participant, issuedAtMillis: issuedAt, validUntilMillis: issuedAt + configuration.directoryTTL.milliseconds,
            broker: configuration.brokerID, certificates: certificates, maxCertificateSize: configuration.limits.maxCertificateSize)
        let signature: [UInt8]
        do {
            signature = try CMS.signDetached(statement.canonicalBytes, certificate: configuration.certificate, key: configuration.key)
        } catch {
            throw ProtocolError(.internalError, "the broker could not sign a directory answer (\(error)); check the broker key")
        }
        return (statement, signature)
    }
}
