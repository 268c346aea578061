public import KlammerCrypto
public import KlammerProtocol

/// The loaded, checked credentials of one participant: certificate chain, matching private key, trust anchors, and
/// the participant id from the certificate's `URI:urn:klammer:participant:<id>` SAN.
public struct ClientCredentials: Sendable {
    /// Leaf first, then intermediates.
    public let certificateChain: [Certificate]
    /// The leaf's private key (signs envelopes and acknowledgements).
    public let privateKey: PrivateKey
    /// CA bundle (and CRLs) for the broker's TLS certificate and for senders' certificates.
    public let trustStore: TrustStore
    /// The participant id named by the certificate (nil if it carries none; the broker's WELCOME is authoritative).
    public let participantID: ParticipantID?

    /// The leaf certificate.
    public var certificate: Certificate { certificateChain[0] }

    /// Creates credentials from loaded values; fails if the key does not belong to the certificate.
    public init(certificateChain: [Certificate], privateKey: PrivateKey, trustStore: TrustStore) throws(KlammerClientError) {
        guard let leaf = certificateChain.first else {
            throw KlammerClientError(.invalidProfile, "the certificate file holds no certificate")
        }
        guard privateKey.matches(leaf.publicKey) else {
            throw KlammerClientError(
                .invalidProfile,
                "the private key does not belong to the certificate \(leaf.subject); give the key file issued with that certificate")
        }
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustStore = trustStore
        self.participantID = leaf.klammerParticipantID.flatMap { try? ParticipantID($0) }
    }

    /// Loads the files a profile names (certificate, key and CA are required).
    public static func load(_ profile: ClientProfile) throws(KlammerClientError) -> ClientCredentials {
        guard let certificatePath = profile.certificatePath else {
            throw KlammerClientError(.invalidProfile, "no certificate; give --cert FILE, \"cert\" in the profile or KLAMMER_CERT")
        }
        guard let keyPath = profile.keyPath else {
            throw KlammerClientError(.invalidProfile, "no private key; give --key FILE, \"key\" in the profile or KLAMMER_KEY")
        }
        let chain: [Certificate]
        do { chain = try Certificate.loadAll(fromPEMFile: certificatePath) } catch {
            throw KlammerClientError(.invalidProfile, "cannot load the certificate \(certificatePath): \(error)")
        }
        let key: PrivateKey
        do { key = try PrivateKey.load(fromFile: keyPath) } catch {
            throw KlammerClientError(.invalidProfile, "cannot load the private key \(keyPath): \(error)")
        }
        return try ClientCredentials(certificateChain: chain, privateKey: key, trustStore: try loadTrustStore(profile))
    }

    /// Loads only the CA bundle (and CRL) of a profile, e.g. for offline verification.
    public static func loadTrustStore(_ profile: ClientProfile) throws(KlammerClientError) -> TrustStore {
        guard let caPath = profile.caPath else {
            throw KlammerClientError(.invalidProfile, "no CA bundle; give --ca FILE, \"ca\" in the profile or KLAMMER_CA")
        }
        do {
            return try TrustStore.load(anchorsFile: caPath, crlFile: profile.crlPath)
        } catch {
            throw KlammerClientError(
                .invalidProfile, "cannot load the CA bundle \(caPath)\(profile.crlPath.map { " or the CRL \($0)" } ?? ""): \(error)")
        }
    }
}
