/// Namespace placeholder; the durable store lands here (issue 3).
public enum KlammerStoreInfo {
    /// On-disk format version written into segment headers.
    public static let formatVersion: UInt16 = 1
}
