/// What a verified certificate is going to be used for; checked against its extendedKeyUsage/keyUsage.
public enum VerifyPurpose: Sendable, Hashable {
    /// No purpose check (e.g. CMS signer certificates, whose EKU Klammer does not restrict).
    case any
    /// The certificate authenticates a TLS client (needs `clientAuth` if it has an EKU).
    case tlsClient
    /// The certificate authenticates a TLS server (needs `serverAuth` if it has an EKU).
    case tlsServer
}
