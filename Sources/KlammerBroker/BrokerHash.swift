import KlammerCrypto

/// Thin wrapper so files that only hash need not import KlammerCrypto's whole surface.
enum BrokerHash {
    static func sha256(_ bytes: [UInt8]) -> [UInt8] { SHA256.hash(bytes) }
}
