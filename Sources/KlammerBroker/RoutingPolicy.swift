/// Which recipients a participant may send to: a list of patterns, each `*` (everyone), an exact participant id
/// (`ags:13004000`) or an id prefix ending in `*` (`ags:13*`). The default allows everyone.
public struct RoutingPolicy: Sendable, Equatable, Codable, CustomStringConvertible {
    /// At most this many patterns, each at most `ParticipantIDSyntax.maximumLength` characters.
    public static let maximumPatterns = 1024

    public private(set) var allow: [String]

    /// Everyone.
    public static let allowAll = RoutingPolicy(uncheckedAllow: ["*"])

    /// Validates each pattern; throws `invalidPolicy` naming the first bad one.
    public init(allow: [String]) throws {
        guard allow.count <= Self.maximumPatterns else {
            throw BrokerError(.invalidPolicy, "a routing policy holds at most \(Self.maximumPatterns) patterns, got \(allow.count).")
        }
        for pattern in allow where !Self.isValidPattern(pattern) {
            throw BrokerError(
                .invalidPolicy,
                "'\(pattern)' is not a routing pattern; use '*', an exact id like 'ags:13004000' or a prefix like 'ags:13*'.")
        }
        self.allow = allow
    }

    private init(uncheckedAllow: [String]) { self.allow = uncheckedAllow }

    /// Whether this policy lets its participant send to `recipient`.
    public func permits(_ recipient: String) -> Bool {
        allow.contains { pattern in
            if pattern == "*" { return true }
            if pattern.hasSuffix("*") { return recipient.hasPrefix(pattern.dropLast()) }
            return recipient == pattern
        }
    }

    public var description: String { allow.joined(separator: ",") }

    static func isValidPattern(_ pattern: String) -> Bool {
        if pattern == "*" { return true }
        guard pattern.count <= ParticipantIDSyntax.maximumLength, !pattern.isEmpty else { return false }
        if pattern.hasSuffix("*") {
            let prefix = pattern.dropLast()
            return !prefix.isEmpty && prefix.allSatisfy { ParticipantIDSyntax.isIDCharacter($0) || $0 == ":" }
        }
        return ParticipantIDSyntax.isValid(pattern)
    }
}
