import Foundation
import Testing
@testable import KlammerCrypto

@Suite struct TrustStoreTests {
    let ca = Fixtures.ca

    func leaf(
        _ usage: CertificateAuthority.Usage = .client, from issuer: CertificateAuthority? = nil,
        notBefore: Date = .now - 300, notAfter: Date = .now + 86400
    ) throws -> Certificate {
        try (issuer ?? ca).issue(
            commonName: "Teilnehmer", subjectAlternativeNames: ["URI:urn:klammer:participant:test"],
            publicKey: try PrivateKey.generate(.p256).publicKey, usage: usage,
            notBefore: notBefore, notAfter: notAfter)
    }

    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do { try body(); return nil } catch let error as CryptoError { return error.code } catch { return nil }
    }

    @Test func validChainVerifiesAndReturnsIt() throws {
        let cert = try leaf()
        let chain = try TrustStore(anchors: [ca.certificate]).verify(cert)
        #expect(chain == [cert, ca.certificate])
    }

    @Test func expiredAndNotYetValid() throws {
        let oldCA = try CertificateAuthority.create(commonName: "Alte CA", notBefore: .now - 86400)
        let store = TrustStore(anchors: [oldCA.certificate])
        let cert = try leaf(from: oldCA, notBefore: .now - 7200, notAfter: .now - 3600)
        let error = #expect(throws: CryptoError.self) { try store.verify(cert) }
        #expect(error?.code == .certificateExpired)
        #expect(error?.message.contains("expired on \(cert.notAfter.iso8601)") == true)
        #expect(error?.message.contains("klammerctl pki issue") == true)
        #expect(error?.message.contains("certificate has expired") == true)  // X509_verify_cert_error_string
        // The same certificate verified at a time inside its validity passes.
        #expect(throws: Never.self) { try store.verify(cert, at: .now - 5000) }
        let future = try leaf(from: oldCA, notBefore: .now + 3600, notAfter: .now + 7200)
        #expect(code { try store.verify(future) } == .certificateNotYetValid)
    }

    /// `verify(_:validAt:revocationAt:)` (signature time, SPEC.md §5.10): validity at `validAt`, chain and CRLs now.
    @Test func validityAtSignatureTimeRevocationNow() throws {
        let oldCA = try CertificateAuthority.create(commonName: "Archiv CA", notBefore: .now - 86400)
        let expired = try leaf(from: oldCA, notBefore: .now - 7200, notAfter: .now - 3600)
        let revoked = try leaf(from: oldCA, notBefore: .now - 7200)
        let crl = try oldCA.makeCRL(revoked: [(revoked.serialNumberHex, .now - 60)])
        for store in [
            TrustStore(anchors: [oldCA.certificate], crls: [crl]), TrustStore(anchors: [oldCA.certificate], crls: [crl], requireCRL: false)
        ] {
            // Expired now, valid at the signature time: passes, with the current CRL.
            #expect(try store.verify(expired, validAt: .now - 5000) == [expired, oldCA.certificate])
            // Signed after notAfter or before notBefore: refused with the time named.
            let late = #expect(throws: CryptoError.self) { try store.verify(expired, validAt: .now - 60) }
            #expect(late?.code == .certificateExpired && late?.message.contains("was not valid at") == true)
            #expect(code { try store.verify(expired, validAt: .now - 9000) } == .certificateNotYetValid)
            // Revoked: refused whatever the signature time.
            #expect(code { try store.verify(revoked, validAt: .now - 5000) } == .certificateRevoked)
            // Another CA stays untrusted.
            #expect(code { try store.verify(try leaf(), validAt: .now) } == .untrustedIssuer)
        }
        // A stale CRL still fails (revocation is checked now).
        let stale = try oldCA.makeCRL(revoked: [], lastUpdate: .now - 7200, nextUpdate: .now - 3600)
        #expect(code { try TrustStore(anchors: [oldCA.certificate], crls: [stale]).verify(expired, validAt: .now - 5000) } == .crlExpired)
    }

    @Test func unknownIssuerIsUntrusted() throws {
        let stranger = try CertificateAuthority.create(commonName: "Fremde CA")
        let cert = try leaf(from: stranger)
        #expect(code { try TrustStore(anchors: [ca.certificate]).verify(cert) } == .untrustedIssuer)
        #expect(code { try TrustStore(anchors: []).verify(stranger.certificate) } == .untrustedIssuer)
    }

    @Test func revokedLeafFailsAndOthersPass() throws {
        let revoked = try leaf()
        let good = try leaf()
        let crl = try ca.makeCRL(revoked: [(revoked.serialNumberHex, .now - 10)])
        let store = TrustStore(anchors: [ca.certificate], crls: [crl])
        #expect(store.checksRevocation && store.requiresCRL)
        let error = #expect(throws: CryptoError.self) { try store.verify(revoked) }
        #expect(error?.code == .certificateRevoked)
        #expect(error?.message.contains("CN=Teilnehmer") == true)
        #expect(throws: Never.self) { try store.verify(good) }
    }

    @Test func staleAndFutureCRLs() throws {
        let cert = try leaf(notAfter: .now + 30 * 86400)
        let stale = try ca.makeCRL(revoked: [], lastUpdate: .now - 10 * 86400, nextUpdate: .now - 86400)
        #expect(code { try TrustStore(anchors: [ca.certificate], crls: [stale]).verify(cert) } == .crlExpired)
        let future = try ca.makeCRL(revoked: [], lastUpdate: .now + 3600, nextUpdate: .now + 86400)
        #expect(code { try TrustStore(anchors: [ca.certificate], crls: [future]).verify(cert) } == .crlNotYetValid)
        // Stale stays stale even when missing CRLs are tolerated.
        #expect(code { try TrustStore(anchors: [ca.certificate], crls: [stale], requireCRL: false).verify(cert) } == .crlExpired)
    }

    @Test func crlFromAnotherCAIsNotEnough() throws {
        let stranger = try CertificateAuthority.create(commonName: "Fremde CA")
        let foreignCRL = try stranger.makeCRL(revoked: [])
        let cert = try leaf()
        #expect(code { try TrustStore(anchors: [ca.certificate], crls: [foreignCRL]).verify(cert) } == .crlNotFound)
        #expect(throws: Never.self) { try TrustStore(anchors: [ca.certificate], crls: [foreignCRL], requireCRL: false).verify(cert) }
        #expect(code { try TrustStore(anchors: [ca.certificate], requireCRL: true).verify(cert) } == .crlNotFound)
    }

    @Test func intermediateChainChecksEveryLevel() throws {
        let subKey = try PrivateKey.generate(.p256)
        let subCert = try ca.issueSubordinateCA(commonName: "Klammer Sub CA", publicKey: subKey.publicKey)
        let sub = try CertificateAuthority(certificate: subCert, key: subKey)
        let cert = try leaf(from: sub)
        let rootCRL = try ca.makeCRL(revoked: [])
        let subCRL = try sub.makeCRL(revoked: [])
        // Without the intermediate the chain cannot be built.
        #expect(code { try TrustStore(anchors: [ca.certificate]).verify(cert) } == .untrustedIssuer)
        let chain = try TrustStore(anchors: [ca.certificate], crls: [rootCRL, subCRL]).verify(cert, intermediates: [subCert])
        #expect(chain == [cert, subCert, ca.certificate])
        // CRL_CHECK_ALL: the root's CRL alone does not cover the leaf.
        #expect(code { try TrustStore(anchors: [ca.certificate], crls: [rootCRL]).verify(cert, intermediates: [subCert]) } == .crlNotFound)
        // A revoked intermediate revokes everything below it.
        let rootCRLRevokingSub = try ca.makeCRL(revoked: [(subCert.serialNumberHex, .now - 10)])
        let error = #expect(throws: CryptoError.self) {
            try TrustStore(anchors: [ca.certificate], crls: [rootCRLRevokingSub, subCRL]).verify(cert, intermediates: [subCert])
        }
        #expect(error?.code == .certificateRevoked)
        #expect(error?.message.contains("depth 1") == true)
        // A leaf certificate cannot act as a CA.
        let leafKey = try PrivateKey.generate(.p256)
        let notACA = try ca.issue(commonName: "kein CA", publicKey: leafKey.publicKey, usage: .client)
        #expect(throws: CryptoError.self) { try CertificateAuthority(certificate: notACA, key: leafKey) }
    }

    @Test func purposeIsChecked() throws {
        let store = TrustStore(anchors: [ca.certificate])
        let client = try leaf(.client)
        let server = try leaf(.server)
        let both = try leaf(.clientAndServer)
        #expect(throws: Never.self) { try store.verify(client, purpose: .tlsClient) }
        #expect(code { try store.verify(client, purpose: .tlsServer) } == .invalidPurpose)
        #expect(code { try store.verify(server, purpose: .tlsClient) } == .invalidPurpose)
        #expect(throws: Never.self) { try store.verify(server, purpose: .tlsServer) }
        #expect(throws: Never.self) { try store.verify(both, purpose: .tlsServer) }
        #expect(throws: Never.self) { try store.verify(both, purpose: .tlsClient) }
    }

    @Test func makeX509StoreCarriesAnchorsCRLsAndFlags() throws {
        let revoked = try leaf()
        let crl = try ca.makeCRL(revoked: [(revoked.serialNumberHex, .now - 10)])
        let trust = TrustStore(anchors: [ca.certificate], crls: [crl])
        let x509Store = try trust.makeX509Store()
        defer { TrustStore.free(x509Store) }
        #expect(throws: Never.self) { try trust.verify(try leaf(), intermediates: [], at: .now, purpose: .any, store: x509Store) }
        let error = #expect(throws: CryptoError.self) {
            try trust.verify(revoked, intermediates: [], at: .now, purpose: .any, store: x509Store)
        }
        #expect(error?.code == .certificateRevoked)
    }

    @Test func loadFromFiles() throws {
        let dir = try TempDir()
        let anchors = try dir.write("ca.pem", ca.certificate.pemString)
        let revoked = try leaf()
        let crls = try dir.write("crl.pem", try ca.makeCRL(revoked: [(revoked.serialNumberHex, .now)]).pemString)
        let store = try TrustStore.load(anchorsFile: anchors, crlFile: crls)
        #expect(code { try store.verify(revoked) } == .certificateRevoked)
    }

    @Test func concurrentVerificationIsSafe() async throws {
        let store = TrustStore(anchors: [ca.certificate], crls: [try ca.makeCRL(revoked: [])])
        let certs = try (0..<4).map { _ in try leaf() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for cert in certs {
                group.addTask { for _ in 0..<50 { try store.verify(cert) } }
            }
            try await group.waitForAll()
        }
    }
}
