internal import COpenSSL
internal import COpenSSLShims

/// Facts about the OpenSSL library Klammer is linked against.
public enum OpenSSLVersion {
    /// The human-readable version string of the linked OpenSSL, e.g. `OpenSSL 3.0.19 27 Jan 2026`.
    public static var text: String {
        String(cString: OpenSSL_version(Int32(OPENSSL_VERSION)))
    }

    /// The numeric version (`OPENSSL_VERSION_NUMBER` layout) of the linked library.
    public static var number: UInt {
        UInt(klammer_openssl_version_number())
    }
}
