#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`) against what the broker may need: one descriptor per connection,
/// one per open upload (a payload beyond `maxInlinePayload` streams into a blob part file), the parked uploads and a
/// reserve for the store's segments, the receipt and audit logs, listeners and the admin socket (SPEC.md §12).
///
/// **(decision)** klammerd raises the soft limit to the hard limit at start and refuses to start (production) when
/// even the hard limit is below what the configuration allows, naming the keys: a limit silently clamped would turn
/// into EMFILE under load, which refuses connections and fails uploads at random instead of at a documented bound.
public enum DescriptorLimit {
    /// Descriptors kept for everything that is not a connection or an upload.
    public static let reserve = 512

    /// Descriptors `connections` connections and `openUploads` open uploads may need (plus ``reserve``, which also
    /// covers the 256 parked uploads).
    public static func needed(connections: Int, openUploads: Int) -> Int { connections + openUploads + reserve }

    /// The current limits, or nil where they cannot be read.
    public static func current() -> (soft: UInt64, hard: UInt64)? {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { return nil }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one and checks it against ``needed(connections:openUploads:)``.
    /// - Throws: ``ServerError`` naming `limits.max_connections` / `limits.max_open_uploads` and the hard limit when
    ///   the hard limit is too low.
    @discardableResult
    public static func raise(toServe connections: Int, openUploads: Int) throws -> (soft: UInt64, hard: UInt64, needed: Int) {
        let needed = needed(connections: connections, openUploads: openUploads)
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else {
            throw ServerError(.io, "cannot read the open-file limit (RLIMIT_NOFILE): \(String(cString: strerror(errno)))")
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resourceNoFile, &raised) == 0 { limit = raised }
        }
        guard limit.rlim_cur >= rlim_t(needed) else {
            throw ServerError(
                .invalidConfiguration,
                "the open-file limit is \(limit.rlim_cur) (hard limit \(limit.rlim_max)), but limits.max_connections (\(connections)) + limits.max_open_uploads (\(openUploads)) + \(reserve) in reserve need \(needed) descriptors; raise the hard limit (systemd LimitNOFILE=, ulimit -Hn) or lower those limits"
            )
        }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max), needed)
    }

    #if canImport(Glibc)
        private static var resourceNoFile: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
    #else
        private static var resourceNoFile: Int32 { RLIMIT_NOFILE }
    #endif
}
