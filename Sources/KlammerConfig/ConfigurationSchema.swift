import Foundation
import Yams

/// The keys `klammerd` understands and their shapes. swift-configuration looks values up by key and silently
/// ignores everything else, so a misspelt security setting (`tls.allow_tl12`) would fall back to its default
/// without a word; this schema check runs over the YAML document first and refuses unknown keys and values of
/// the wrong shape, naming the key and its line.
enum ConfigurationSchema {
    enum Shape: Sendable {
        case scalar
        case list
    }

    /// Every leaf key (dotted) and its shape. Sections are implied by the prefixes.
    static let keys: [String: Shape] = [
        "broker_id": .scalar,
        "data_dir": .scalar,
        "listen.host": .scalar,
        "listen.port": .scalar,
        "tls.ca_bundle": .scalar,
        "tls.crl_files": .list,
        "tls.require_crl": .scalar,
        "tls.certificate": .scalar,
        "tls.key": .scalar,
        "tls.allow_tls12": .scalar,
        "tls.handshake_timeout_seconds": .scalar,
        "store.durability": .scalar,
        "store.batch_max_delay_ms": .scalar,
        "store.max_document_bytes": .scalar,
        "store.partial_upload_timeout_seconds": .scalar,
        "store.free_space_reserve_bytes": .scalar,
        "store.default_ttl_seconds": .scalar,
        "store.max_attempts": .scalar,
        "store.max_queued_messages_per_recipient": .scalar,
        "store.visibility_timeout_seconds": .scalar,
        "limits.max_frame_bytes": .scalar,
        "limits.max_connections": .scalar,
        "limits.max_open_uploads_per_connection": .scalar,
        "limits.max_open_uploads_per_participant": .scalar,
        "limits.max_open_uploads": .scalar,
        "limits.max_requests_per_second": .scalar,
        "limits.max_refusals_per_second": .scalar,
        "admin.socket": .scalar,
        "admin.tls.listen": .scalar,
        "admin.tls.client_fingerprints": .list,
        "metrics.port": .scalar,
        "metrics.min_certificate_days": .scalar,
        "log.level": .scalar,
        "audit.checkpoint_interval": .scalar,
        "directory.ttl_seconds": .scalar,
        "store.receipt_retention_days": .scalar,
        "envelope.max_clock_skew_seconds": .scalar,
        "envelope.max_age_seconds": .scalar,
        "envelope.max_ttl_seconds": .scalar
    ]

    /// Every proper dotted prefix of a key (`admin`, `admin.tls`): the sections that hold keys.
    static let sections: Set<String> = Set(
        keys.keys.flatMap { key in
            let parts = key.split(separator: ".")
            return (1..<max(1, parts.count)).map { parts[..<$0].joined(separator: ".") }
        })

    /// The environment variable that overrides `key`: `KLAMMER_` + the key upper-cased with `.` → `_`
    /// (the mapping of swift-configuration's `EnvironmentVariablesProvider` under the `klammer` prefix).
    static func environmentVariable(for key: String) -> String {
        "KLAMMER_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// Checks the document: valid YAML, a mapping at the top, only known keys, scalars and lists where they belong.
    static func check(yaml: String, source: String) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(.syntax, key: "", source: source, reason: "not valid YAML: \(error)")
        }
        guard let root else { return }  // an empty file: every key takes its default or the environment's value
        guard let mapping = root.mapping else {
            throw ConfigurationError(
                .syntax, key: "", source: source, reason: "the top level must be a mapping of keys (like 'listen:' and 'tls:')")
        }
        try check(mapping: mapping, prefix: "", source: source)
    }

    private static func check(mapping: Node.Mapping, prefix: String, source: String) throws {
        for (keyNode, value) in mapping {
            guard let name = keyNode.scalar?.string else {
                throw ConfigurationError(.syntax, key: prefix, source: location(source, keyNode), reason: "keys must be plain words")
            }
            let key = prefix.isEmpty ? name : prefix + "." + name
            if let shape = keys[key] {
                switch (shape, value) {
                case (.scalar, .scalar(let scalar)):
                    // `key:` with nothing after it (or `~`/`null`) is YAML's null, not an empty string.
                    if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                        throw ConfigurationError(
                            .wrongType, key: key, source: location(source, value),
                            reason: "has no value; give one, or delete the line to use the default")
                    }
                case (.list, .sequence(let sequence)):
                    for element in sequence where element.scalar == nil {
                        throw ConfigurationError(
                            .wrongType, key: key, source: location(source, element), reason: "must be a list of plain values")
                    }
                case (.scalar, _):
                    throw ConfigurationError(
                        .wrongType, key: key, source: location(source, value), reason: "must be a single value, not a list or mapping")
                case (.list, _):
                    throw ConfigurationError(
                        .wrongType, key: key, source: location(source, value),
                        reason: "must be a list (e.g. [a.pem, b.pem] or one '- item' per line)")
                }
            } else if sections.contains(key) {
                guard let inner = value.mapping else {
                    throw ConfigurationError(
                        .wrongType, key: key, source: location(source, value),
                        reason: "is a section and must hold keys (e.g. '\(key):' followed by indented keys)")
                }
                try check(mapping: inner, prefix: key, source: source)
            } else {
                let known = keys.keys.sorted().joined(separator: ", ")
                throw ConfigurationError(
                    .unknownKey, key: key, source: location(source, keyNode),
                    reason: "unknown key; check the spelling. Known keys: \(known)")
            }
        }
    }

    private static func location(_ source: String, _ node: Node) -> String {
        guard let mark = node.mark else { return source }
        return "\(source):\(mark.line)"
    }
}
