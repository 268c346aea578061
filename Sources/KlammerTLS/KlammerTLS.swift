import KlammerCrypto

/// The ALPN protocol identifier of the Klammer wire protocol, version 1.
public let klammerALPN = "klammer/1"
