import Foundation
#if canImport(Glibc)
    import Glibc
#endif
public import KlammerProtocol

extension Broker {
    /// Bytes an unprivileged writer can still use on the file system holding `path` (statvfs `f_bavail`), or nil if
    /// it cannot be determined.
    public static func availableBytes(at path: String) -> UInt64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return UInt64(st.f_bavail) &* UInt64(st.f_frsize)
    }

    /// Refuses new work with the retryable `STORAGE_FULL` when storing `incomingBytes` more would leave less than
    /// `freeSpaceReserveBytes` free on the broker's or the store's file system (SPEC.md §7.1 check 5b).
    func checkFreeSpace(for incomingBytes: UInt64) throws {
        let reserve = configuration.freeSpaceReserveBytes
        guard reserve > 0 else { return }
        for path in [configuration.directory, configuration.storeDirectory].compactMap({ $0 }) {
            guard let available = Self.availableBytes(at: path) else { continue }
            let needed = reserve.addingReportingOverflow(incomingBytes)
            if needed.overflow || available < needed.partialValue {
                throw ProtocolError(
                    .storageFull,
                    "the broker's disk at \(path) has \(available) bytes free; this document (\(incomingBytes) bytes) would cut into the reserve of \(reserve) bytes kept for receipts and the audit log; retry later — the operator must free space"
                )
            }
        }
    }
}
