public import Foundation

/// Where a participant's credentials are and which broker to use: certificate, private key, CA bundle (and optionally
/// a CRL), broker `host:port`.
///
/// Sources, highest precedence first: explicit values (command-line flags), a profile file (JSON object or
/// `key = value` lines with the keys `cert`, `key`, `ca`, `crl`, `broker`; relative paths are relative to the file),
/// and the environment (`KLAMMER_CERT`, `KLAMMER_KEY`, `KLAMMER_CA`, `KLAMMER_CRL`, `KLAMMER_BROKER`).
public struct ClientProfile: Hashable, Sendable {
    /// PEM file with the participant certificate (leaf first, then any intermediates).
    public var certificatePath: String?
    /// PEM file with the participant's private key.
    public var keyPath: String?
    /// PEM bundle of the CA(s) the broker and the senders' certificates chain to.
    public var caPath: String?
    /// Optional PEM file with the CA's CRL (then revocation is checked).
    public var crlPath: String?
    /// Broker address `host:port` (IPv6 as `[::1]:7700`).
    public var broker: String?

    /// The largest profile file read.
    public static let maxFileBytes = 64 * 1024
    /// The default broker port when `broker` has none.
    public static let defaultPort = 7700

    /// Creates a profile from explicit values.
    public init(
        certificatePath: String? = nil, keyPath: String? = nil, caPath: String? = nil,
        crlPath: String? = nil, broker: String? = nil
    ) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.caPath = caPath
        self.crlPath = crlPath
        self.broker = broker
    }

    /// Reads the environment variables `KLAMMER_CERT`, `KLAMMER_KEY`, `KLAMMER_CA`, `KLAMMER_CRL`, `KLAMMER_BROKER`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ClientProfile {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        return ClientProfile(
            certificatePath: value("KLAMMER_CERT"), keyPath: value("KLAMMER_KEY"),
            caPath: value("KLAMMER_CA"), crlPath: value("KLAMMER_CRL"), broker: value("KLAMMER_BROKER"))
    }

    /// Loads a profile file (JSON object, or `key = value` lines; `#` starts a comment line).
    public static func load(fromFile path: String) throws(KlammerClientError) -> ClientProfile {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KlammerClientError(.invalidProfile, "cannot read the profile file \(path); check the path given with --profile")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? Data()
        guard data.count <= maxFileBytes else {
            throw KlammerClientError(
                .invalidProfile, "the profile file \(path) is larger than \(maxFileBytes) bytes; it should only name a few files")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw KlammerClientError(.invalidProfile, "the profile file \(path) is not UTF-8 text")
        }
        let base = (path as NSString).deletingLastPathComponent
        return try parse(text, relativeTo: base.isEmpty ? "." : base, source: path)
    }

    /// Parses profile text. Paths that are not absolute are resolved against `directory`.
    public static func parse(_ text: String, relativeTo directory: String, source: String = "profile") throws(KlammerClientError)
        -> ClientProfile
    {
        var values: [String: String] = [:]
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw KlammerClientError(
                    .invalidProfile,
                    "\(source) starts with '{' but is not a JSON object; write {\"cert\": \"…\", \"key\": \"…\", \"ca\": \"…\", \"broker\": \"host:port\"}"
                )
            }
            for (key, value) in object {
                guard let string = value as? String else {
                    throw KlammerClientError(.invalidProfile, "\(source): the value of \"\(key)\" must be a string")
                }
                values[key] = string
            }
        } else {
            for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = rawLine.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let eq = line.firstIndex(of: "=") else {
                    throw KlammerClientError(
                        .invalidProfile, "\(source) line \(number + 1): expected key = value, e.g. cert = participant.pem")
                }
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                values[key] = value
            }
        }
        let known: Set<String> = ["cert", "key", "ca", "crl", "broker"]
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            throw KlammerClientError(.invalidProfile, "\(source): unknown key \"\(unknown)\"; allowed are cert, key, ca, crl, broker")
        }
        func path(_ key: String) -> String? {
            guard let value = values[key], !value.isEmpty else { return nil }
            return value.hasPrefix("/") ? value : (directory as NSString).appendingPathComponent(value)
        }
        return ClientProfile(
            certificatePath: path("cert"), keyPath: path("key"), caPath: path("ca"),
            crlPath: path("crl"), broker: values["broker"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// This profile with every missing value taken from `fallback`.
    public func merged(over fallback: ClientProfile) -> ClientProfile {
        ClientProfile(
            certificatePath: certificatePath ?? fallback.certificatePath, keyPath: keyPath ?? fallback.keyPath,
            caPath: caPath ?? fallback.caPath, crlPath: crlPath ?? fallback.crlPath, broker: broker ?? fallback.broker)
    }

    /// The broker address split into host and port (default port 7700).
    public func brokerAddress() throws(KlammerClientError) -> (host: String, port: Int) {
        guard let broker, !broker.isEmpty else {
            throw KlammerClientError(
                .invalidProfile, "no broker address; give --broker HOST:PORT, \"broker\" in the profile or KLAMMER_BROKER")
        }
        return try Self.parseAddress(broker)
    }

    /// Parses `host:port`, `host`, `[v6]:port` or `[v6]`.
    public static func parseAddress(_ text: String) throws(KlammerClientError) -> (host: String, port: Int) {
        var host = text
        var portText: Substring? = nil
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw KlammerClientError(.invalidProfile, "broker address \(text): missing ']' after the IPv6 address")
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw KlammerClientError(.invalidProfile, "broker address \(text): expected :PORT after ']'")
                }
                portText = rest.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            guard text.firstIndex(of: ":") == colon else {
                throw KlammerClientError(.invalidProfile, "broker address \(text): write IPv6 addresses as [ADDRESS]:PORT")
            }
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        }
        var port = defaultPort
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw KlammerClientError(.invalidProfile, "broker address \(text): the port must be a number 1…65535")
            }
            port = p
        }
        guard !host.isEmpty else { throw KlammerClientError(.invalidProfile, "broker address \(text) has no host") }
        return (host, port)
    }
}
