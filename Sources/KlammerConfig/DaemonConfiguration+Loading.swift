import Configuration
import Foundation
import KlammerProtocol
import SystemPackage

extension DaemonConfiguration {
    /// Largest configuration file read (a limit on every size).
    public static let maximumFileBytes = 1 << 20
    /// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes including the terminating NUL).
    public static let maximumSocketPathBytes = 107

    /// Reads `file` (YAML) with `KLAMMER_*` variables from the process environment taking precedence.
    public static func load(file: String) async throws -> DaemonConfiguration {
        try await load(file: file, environment: ProcessInfo.processInfo.environment)
    }

    /// Reads `file` (YAML) with `KLAMMER_*` variables from `environment` taking precedence, checks every key and
    /// returns the typed configuration. Throws ``ConfigurationError`` naming the first bad key.
    public static func load(
        file: String, environment: [String: String]
    ) async throws -> DaemonConfiguration {
        let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
        guard let data = FileManager.default.contents(atPath: absolute) else {
            throw ConfigurationError(
                .fileUnreadable, key: "", source: absolute,
                reason:
                    "the file does not exist or cannot be read; pass the path of your klammer.yaml with --config (config/klammer.yaml in the repository is a documented example)"
            )
        }
        guard data.count <= maximumFileBytes else {
            throw ConfigurationError(
                .fileUnreadable, key: "", source: absolute,
                reason: "the file is larger than \(maximumFileBytes) bytes; a Klammer configuration is a few KiB")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(.syntax, key: "", source: absolute, reason: "the file is not UTF-8 text")
        }
        try ConfigurationSchema.check(yaml: text, source: absolute)

        let fileProvider: FileProvider<YAMLSnapshot>
        do {
            fileProvider = try await FileProvider<YAMLSnapshot>(filePath: FilePath(absolute))
        } catch {
            throw ConfigurationError(.syntax, key: "", source: absolute, reason: "cannot be parsed: \(error)")
        }
        // Environment first: KLAMMER_LISTEN_PORT overrides listen.port from the file.
        let environmentProvider = EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "klammer")
        let reader = ConfigReader(providers: [environmentProvider, fileProvider])
        var values = ConfigurationValues(
            reader: reader, environment: environment, file: absolute,
            baseDirectory: (absolute as NSString).deletingLastPathComponent)
        return try values.build()
    }
}

/// Reads one key at a time and turns it into a typed value or a ``ConfigurationError`` that names the key and
/// its source.
struct ConfigurationValues {
    let reader: ConfigReader
    let environment: [String: String]
    let file: String
    let baseDirectory: String

    func source(_ key: String) -> String {
        let variable = ConfigurationSchema.environmentVariable(for: key)
        return environment[variable] != nil ? "environment variable \(variable)" : file
    }

    func error(_ code: ConfigurationError.Code, _ key: String, _ reason: String) -> ConfigurationError {
        ConfigurationError(code, key: key, source: source(key), reason: reason)
    }

    func raw(_ key: String) -> String? {
        reader.string(forKey: ConfigKey(key))?.trimmingCharacters(in: .whitespaces)
    }

    func required(_ key: String, _ what: String) throws -> String {
        guard let value = raw(key), !value.isEmpty else {
            throw ConfigurationError(
                .missing, key: key, source: file,
                reason: "is required: \(what). Set it in the file or with \(ConfigurationSchema.environmentVariable(for: key)).")
        }
        return value
    }

    func int(_ key: String, default defaultValue: Int, range: ClosedRange<Int>, unit: String = "") throws -> Int {
        guard let text = raw(key) else { return defaultValue }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw error(.wrongType, key, "'\(text)' is not a whole number\(unit.isEmpty ? "" : " of \(unit)")")
        }
        guard range.contains(value) else {
            throw error(.outOfRange, key, "\(value) is outside \(range.lowerBound)…\(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")")
        }
        return value
    }

    /// A byte size: a whole number with an optional unit `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`, all binary).
    func bytes(_ key: String, default defaultValue: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = raw(key) else { return defaultValue }
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
        var number = text.replacingOccurrences(of: "_", with: "")
        var multiplier = 1
        for (suffix, factor) in units where number.hasSuffix(suffix) {
            number = String(number.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            multiplier = factor
            break
        }
        guard let value = Int(number), value >= 0, value <= Int.max / multiplier else {
            throw error(
                .wrongType, key, "'\(text)' is not a size; write bytes as a whole number, optionally with KiB, MiB or GiB (e.g. 16MiB)")
        }
        let total = value * multiplier
        guard range.contains(total) else {
            throw error(.outOfRange, key, "\(total) bytes is outside \(range.lowerBound)…\(range.upperBound) bytes")
        }
        return total
    }

    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let text = raw(key) else { return defaultValue }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw error(.wrongType, key, "'\(text)' is not a boolean; write true or false")
        }
    }

    func path(_ text: String) -> String {
        let expanded = (text as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : (baseDirectory as NSString).appendingPathComponent(expanded)
        return URL(fileURLWithPath: absolute).standardizedFileURL.path
    }

    func pathList(_ key: String) throws -> [String] {
        let variable = ConfigurationSchema.environmentVariable(for: key)
        let items: [String]
        if let text = environment[variable] {
            // An environment variable holds a comma-separated list (empty: none).
            items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else {
            items = reader.stringArray(forKey: ConfigKey(key)) ?? []
        }
        guard items.count <= 64 else {
            throw error(.outOfRange, key, "at most 64 files, got \(items.count)")
        }
        return items.map(path)
    }

    /// Most admin certificates `admin.tls.client_fingerprints` may list.
    static let maximumAdminFingerprints = 64

    /// `admin.tls.listen` (`host:port`, absent: off) and the admitted certificates' fingerprints (required then).
    func adminTLS(listenPort: Int) throws -> DaemonConfiguration.AdminTLS? {
        let fingerprintKey = "admin.tls.client_fingerprints"
        let variable = ConfigurationSchema.environmentVariable(for: fingerprintKey)
        let items: [String]
        if let text = environment[variable] {
            items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else {
            items = reader.stringArray(forKey: ConfigKey(fingerprintKey)) ?? []
        }
        guard let listen = raw("admin.tls.listen"), !listen.isEmpty else {
            if !items.isEmpty {
                throw error(
                    .missing, "admin.tls.listen",
                    "admin.tls.client_fingerprints is set but admin.tls.listen is not; give the address to serve the admin API on over mutual TLS (e.g. 127.0.0.1:7701), or remove the fingerprints"
                )
            }
            return nil
        }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw error(.invalidValue, "admin.tls.listen", "'\(listen)' is not host:port (e.g. 127.0.0.1:7701; [::1]:7701 for IPv6)")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(" ") else {
            throw error(.invalidValue, "admin.tls.listen", "'\(listen)' has no host; write e.g. 127.0.0.1:7701")
        }
        if port != 0, port == listenPort {
            throw error(.invalidValue, "admin.tls.listen", "port \(port) is also listen.port; choose another port for the admin API")
        }
        guard !items.isEmpty else {
            throw error(
                .missing, fingerprintKey,
                "admin.tls.listen is set but no admin certificate is admitted; list the SHA-256 fingerprints of the admin certificates (openssl x509 -noout -fingerprint -sha256 -in admin.pem)"
            )
        }
        guard items.count <= Self.maximumAdminFingerprints else {
            throw error(.outOfRange, fingerprintKey, "at most \(Self.maximumAdminFingerprints) fingerprints, got \(items.count)")
        }
        let fingerprints = try items.map { item in
            let hex = item.replacingOccurrences(of: ":", with: "").lowercased()
            guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw error(.invalidValue, fingerprintKey, "'\(item)' is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
            }
            return hex
        }
        return .init(host: host, port: port, clientFingerprints: fingerprints)
    }

    mutating func build() throws -> DaemonConfiguration {
        let brokerID = try required("broker_id", "the broker's participant id written into every receipt, e.g. broker:klammer-1")
        guard (try? ParticipantID(brokerID)) != nil else {
            throw error(
                .invalidValue, "broker_id",
                "'\(brokerID)' is not a participant id of the form scheme:value (e.g. broker:klammer-1; SPEC §5.1)")
        }
        let dataDirectory = path(try required("data_dir", "the directory for the registry, the store and the audit log"))
        let host = raw("listen.host") ?? "127.0.0.1"
        guard !host.isEmpty, host.utf8.count <= 255, !host.contains(" ") else {
            throw error(.invalidValue, "listen.host", "'\(host)' is not an address; use e.g. 0.0.0.0, :: or 127.0.0.1")
        }
        let port = try int("listen.port", default: 7700, range: 0...65535)

        let crlFiles = try pathList("tls.crl_files")
        let requireCRL = try bool("tls.require_crl", default: true)
        if requireCRL && crlFiles.isEmpty {
            throw error(
                .missing, "tls.crl_files",
                "no CRL configured while tls.require_crl is true: every certificate must be covered by a current CRL (SPEC §3.4). List the CA's crl.pem ('klammerctl pki crl' publishes one)"
            )
        }
        let tls = DaemonConfiguration.TLS(
            caBundle: path(try required("tls.ca_bundle", "the PEM file with the CA certificates participants chain to")),
            crlFiles: crlFiles,
            requireCRL: requireCRL,
            certificate: path(try required("tls.certificate", "the broker's certificate (PEM, leaf first)")),
            key: path(try required("tls.key", "the broker's private key (PEM, mode 0600)")),
            allowTLS12: try bool("tls.allow_tls12", default: false),
            handshakeTimeoutSeconds: try int("tls.handshake_timeout_seconds", default: 10, range: 1...120, unit: "seconds"))

        let durabilityWord = raw("store.durability") ?? "always"
        let durability: DaemonConfiguration.Durability
        switch durabilityWord {
        case "always":
            durability = .always
        case "batched":
            // The broker signs an `accepted` receipt once the store confirms: a receipt for a message that a crash
            // can still lose would be a false promise (SPEC §7.2). The store keeps the mode for klammer-store-bench.
            throw error(
                .invalidValue, "store.durability",
                "batched confirms a message before it is fsynced, but the broker's signed accepted receipt promises that it is on disk (SPEC §7.2); klammerd runs only with always. Remove store.durability or set it to always"
            )
        default:
            throw error(
                .invalidValue, "store.durability",
                "'\(durabilityWord)' is not a durability mode; use always (fsync before every confirmation)")
        }
        if raw("store.batch_max_delay_ms") != nil {
            throw error(
                .invalidValue, "store.batch_max_delay_ms",
                "applies only to store.durability batched, which klammerd refuses (SPEC §7.2); remove it")
        }
        let store = DaemonConfiguration.Store(
            durability: durability,
            maxDocumentBytes: try bytes("store.max_document_bytes", default: 2 << 30, range: 1024...(2 << 30)),
            defaultTTLSeconds: try int("store.default_ttl_seconds", default: 7 * 86400, range: 60...(90 * 86400), unit: "seconds"),
            maxAttempts: try int("store.max_attempts", default: 10, range: 1...1000),
            maxQueuedMessagesPerRecipient: try int(
                "store.max_queued_messages_per_recipient", default: 100_000, range: 0...100_000_000, unit: "messages"),
            visibilityTimeoutSeconds: try int("store.visibility_timeout_seconds", default: 300, range: 1...86400, unit: "seconds"),
            partialUploadTimeoutSeconds: try int(
                "store.partial_upload_timeout_seconds", default: 86400, range: 1...(7 * 86400), unit: "seconds"),
            freeSpaceReserveBytes: try bytes("store.free_space_reserve_bytes", default: 64 << 20, range: 0...(1 << 40)))

        let limits = DaemonConfiguration.Limits(
            maxFrameBytes: try bytes("limits.max_frame_bytes", default: 1 << 20, range: (16 << 10)...(16 << 20)),
            maxConnections: try int("limits.max_connections", default: 1024, range: 1...100_000),
            maxOpenUploadsPerConnection: try int("limits.max_open_uploads_per_connection", default: 256, range: 1...4096, unit: "uploads"),
            maxOpenUploadsPerParticipant: try int(
                "limits.max_open_uploads_per_participant", default: 1024, range: 1...100_000, unit: "uploads"),
            maxOpenUploads: try int("limits.max_open_uploads", default: 4096, range: 1...1_000_000, unit: "uploads"),
            maxRequestsPerSecond: try int(
                "limits.max_requests_per_second", default: 10_000, range: 0...1_000_000, unit: "requests per second"),
            maxRefusalsPerSecond: try int("limits.max_refusals_per_second", default: 10, range: 0...10_000, unit: "refusals per second"))

        let adminSocket = raw("admin.socket").map(path) ?? (dataDirectory as NSString).appendingPathComponent("admin.sock")
        guard adminSocket.utf8.count <= DaemonConfiguration.maximumSocketPathBytes else {
            throw error(
                .invalidValue, "admin.socket",
                "the path \(adminSocket) is \(adminSocket.utf8.count) bytes; Unix socket paths are limited to \(DaemonConfiguration.maximumSocketPathBytes). Choose a shorter admin.socket"
            )
        }
        let adminTLS = try adminTLS(listenPort: port)
        let metricsPort = try int("metrics.port", default: 0, range: 0...65535)
        if metricsPort != 0, metricsPort == port {
            throw error(.invalidValue, "metrics.port", "\(metricsPort) is also listen.port; choose another port (or 0 to turn metrics off)")
        }
        let level = raw("log.level") ?? "info"
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(level) else {
            throw error(.invalidValue, "log.level", "'\(level)' is not a log level; use one of \(levels.joined(separator: ", "))")
        }
        var result = DaemonConfiguration(
            brokerID: brokerID, listenHost: host, listenPort: port, dataDirectory: dataDirectory,
            tls: tls, store: store, limits: limits, adminSocket: adminSocket, adminTLS: adminTLS,
            metricsPort: metricsPort == 0 ? nil : metricsPort,
            minimumCertificateDays: try int("metrics.min_certificate_days", default: 14, range: 0...3650, unit: "days"),
            logLevel: level,
            auditCheckpointInterval: try int("audit.checkpoint_interval", default: 64, range: 1...100_000, unit: "entries"),
            directoryTTLSeconds: try int("directory.ttl_seconds", default: 3600, range: 60...604_800, unit: "seconds"),
            receiptRetentionDays: try int("store.receipt_retention_days", default: 90, range: 7...3650, unit: "days"))
        result.maxClockSkewSeconds = try int("envelope.max_clock_skew_seconds", default: 300, range: 0...86_400, unit: "seconds")
        result.maxEnvelopeAgeSeconds = try int("envelope.max_age_seconds", default: 604_800, range: 60...31_536_000, unit: "seconds")
        result.maxTimeToLiveSeconds = try int("envelope.max_ttl_seconds", default: 7_776_000, range: 60...Int(UInt32.max), unit: "seconds")
        return result
    }
}
