/// How a sender signed an envelope (SPEC.md §5.5), announced in SEND_BEGIN.
public enum SignatureForm: UInt8, Hashable, Sendable, CaseIterable, Codable {
    /// One detached CMS SignedData (DER) over the canonical envelope bytes.
    case single = 1
    /// One detached CMS over a `BatchRootStatement` plus a Merkle inclusion proof of the
    /// envelope digest (SPEC.md §5.6).
    case batch = 2
}
