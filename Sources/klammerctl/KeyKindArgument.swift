import ArgumentParser
import KlammerCrypto

/// The key types an operator may choose on the command line (SPEC.md §3.1); all meet BSI TR-02102-1.
enum KeyKindArgument: String, CaseIterable, ExpressibleByArgument {
    case p256
    case p384
    case brainpoolP256r1
    case brainpoolP384r1
    case rsa3072
    case rsa4096

    /// The library key kind.
    var keyKind: KeyKind {
        switch self {
        case .p256: .p256
        case .p384: .p384
        case .brainpoolP256r1: .brainpoolP256r1
        case .brainpoolP384r1: .brainpoolP384r1
        case .rsa3072: .rsa(bits: 3072)
        case .rsa4096: .rsa(bits: 4096)
        }
    }
}
