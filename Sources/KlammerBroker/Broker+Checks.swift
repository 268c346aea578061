import KlammerCrypto
import KlammerProtocol

extension Broker {
    /// The registry's current version of the connected participant, refused unless active.
    func currentActive(_ participant: Participant) throws -> (Participant, ParticipantID) {
        guard let current = registry.participant(id: participant.id) else {
            throw ProtocolError(
                .unknownParticipant, "participant \(participant.id) is no longer registered; ask the broker operator to register it again")
        }
        switch current.status {
        case .active: break
        case .suspended:
            throw ProtocolError(
                .participantSuspended, "participant \(current.id) is suspended and may not send or receive; contact the broker operator")
        case .revoked:
            throw ProtocolError(.participantRevoked, "participant \(current.id) is revoked; a new registration is required")
        }
        let id: ParticipantID
        do { id = try ParticipantID(current.id) } catch {
            throw ProtocolError(.internalError, "registered participant id \(current.id) has invalid syntax; fix the registry")
        }
        return (current, id)
    }

    /// Finds the participant's registered certificate named by the CMS SignerInfo (issuer + serial) and verifies
    /// `signature` over `content` with exactly that certificate.
    /// - Throws: SIGNATURE_MISSING (empty), LIMIT_EXCEEDED (over `maxSignatureSize`), SIGNATURE_INVALID (unparsable
    ///   CMS or verification failure), CERTIFICATE_NOT_REGISTERED (signer is not one of `participant`'s certificates),
    ///   CERTIFICATE_REVOKED / CERTIFICATE_EXPIRED (registered, but revoked or outside its validity now),
    ///   SIGNATURE_PROFILE_VIOLATION (a well-formed CMS outside SPEC.md §3.5: algorithm, attributes, embedded objects).
    func verifySignature(
        _ signature: [UInt8], over content: [UInt8], by participant: Participant,
        what: String
    ) throws -> Certificate {
        guard !signature.isEmpty else {
            throw ProtocolError(
                .signatureMissing, "the \(what) signature is empty; sign the canonical bytes with a registered certificate (detached CMS)")
        }
        guard signature.count <= Int(configuration.limits.maxSignatureSize) else {
            throw ProtocolError(
                .limitExceeded,
                "the \(what) signature has \(signature.count) bytes, more than the limit \(configuration.limits.maxSignatureSize)")
        }
        let signer: (issuer: String, serialNumberHex: String)
        do { signer = try CMS.signerIdentifier(of: signature) } catch let error as CryptoError where error.code == .profileViolation {
            throw ProtocolError(.signatureProfileViolation, "the \(what) signature violates the Klammer CMS profile: \(error.message)")
        } catch {
            throw ProtocolError(
                .signatureInvalid, "the \(what) signature is not a valid detached CMS SignedData (\(error)); see SPEC.md §3.5")
        }
        var match: Certificate?
        for registered in participant.certificates {
            guard let certificate = registeredCertificate(registered) else { continue }
            if certificate.issuer == signer.issuer && certificate.serialNumberHex == signer.serialNumberHex {
                match = certificate
                break
            }
        }
        guard let certificate = match else {
            throw ProtocolError(
                .certificateNotRegistered,
                "the \(what) signature was made with certificate serial \(signer.serialNumberHex) of \(signer.issuer), which is not registered for \(participant.id); sign with a registered certificate or register it first"
            )
        }
        try checkStatus(of: certificate, of: participant.id, what: what)
        do { try CMS.verifyDetached(signature: signature, content: content, signer: certificate) } catch let error as CryptoError
            where error.code == .profileViolation
        {
            throw ProtocolError(.signatureProfileViolation, "the \(what) signature violates the Klammer CMS profile: \(error.message)")
        } catch {
            throw ProtocolError(
                .signatureInvalid,
                "the \(what) signature does not verify against the registered certificate \(certificate.subject) (\(error)); the signed bytes or the key differ"
            )
        }
        return certificate
    }

    /// Parsed registered certificate, cached by fingerprint (the PEM of a fingerprint never changes).
    func registeredCertificate(_ registered: Participant.RegisteredCertificate) -> Certificate? {
        if let cached = state.withLock({ $0.certificates[registered.fingerprint] }) { return cached }
        guard let certificate = try? Certificate(pem: registered.pem),
            certificate.fingerprint.hex == registered.fingerprint
        else {
            logger.error("registered certificate \(registered.fingerprint) cannot be parsed or does not match its fingerprint")
            return nil
        }
        state.withLock { s in
            if s.certificates.count >= Broker.maxCachedCertificates { s.certificates.removeAll(keepingCapacity: true) }
            s.certificates[registered.fingerprint] = certificate
        }
        return certificate
    }

    /// Signs a receipt with the broker key (detached CMS) and wraps it in the wire container.
    func sign(_ receipt: Receipt, acknowledgement: SignedReceipt.RecipientAcknowledgement? = nil) throws -> SignedReceipt {
        let signature: [UInt8]
        do {
            signature = try CMS.signDetached(receipt.canonicalBytes, certificate: configuration.certificate, key: configuration.key)
        } catch {
            throw ProtocolError(.internalError, "the broker could not sign a receipt (\(error)); check the broker key")
        }
        return try SignedReceipt(receipt: receipt, brokerSignature: signature, acknowledgement: acknowledgement)
    }
}
