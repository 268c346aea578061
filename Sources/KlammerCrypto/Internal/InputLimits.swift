/// Upper bounds on inputs, so a hostile or corrupt file cannot make the broker allocate without limit.
package enum InputLimits {
    /// One certificate, PEM or DER. Real certificates are a few KiB.
    package static let certificate = 1 << 20
    /// A certificate bundle file (many anchors).
    package static let certificateBundle = 16 << 20
    /// A private key file.
    package static let privateKey = 1 << 20
    /// A CRL; large authorities publish CRLs of tens of MiB.
    package static let crl = 64 << 20
    /// A detached CMS signature (without content).
    package static let cmsSignature = 1 << 20

    static func check(_ count: Int, limit: Int, what: String) throws {
        if count > limit {
            throw CryptoError(
                .inputTooLarge,
                "\(what) is \(count) bytes, more than the limit of \(limit) bytes; check that the right file was given")
        }
    }
}
