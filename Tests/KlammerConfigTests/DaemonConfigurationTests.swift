import Foundation
import KlammerConfig
import Testing

/// Parsing and validation of `klammerd --config`: every class of error names the key and the reason.
struct DaemonConfigurationTests {
    /// A minimal valid file; tests append or replace lines.
    static let minimal = """
        broker_id: "broker:test-1"
        data_dir: data
        tls:
          ca_bundle: ca.pem
          crl_files: [crl.pem]
          certificate: broker.pem
          key: broker.key
        """

    final class Directory {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "klammer-config-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ yaml: String) throws -> String {
            let file = path + "/klammer.yaml"
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    func load(_ yaml: String, environment: [String: String] = [:]) async throws -> DaemonConfiguration {
        let directory = try Directory()
        return try await DaemonConfiguration.load(file: try directory.write(yaml), environment: environment)
    }

    func failure(_ yaml: String, environment: [String: String] = [:]) async -> ConfigurationError? {
        do {
            _ = try await load(yaml, environment: environment)
            return nil
        } catch let error as ConfigurationError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func minimalFileGetsDefaultsAndResolvesPathsAgainstTheFile() async throws {
        let directory = try Directory()
        let file = try directory.write(Self.minimal)
        let config = try await DaemonConfiguration.load(file: file, environment: [:])
        let base = URL(fileURLWithPath: directory.path).standardizedFileURL.path
        #expect(config.brokerID == "broker:test-1")
        #expect(config.dataDirectory == base + "/data")
        #expect(config.tls.caBundle == base + "/ca.pem")
        #expect(config.tls.crlFiles == [base + "/crl.pem"])
        #expect(config.listenHost == "127.0.0.1")
        #expect(config.listenPort == 7700)
        #expect(config.tls.requireCRL)
        #expect(!config.tls.allowTLS12)
        #expect(config.tls.handshakeTimeoutSeconds == 10)
        #expect(config.store.durability == .always)
        #expect(config.store.maxAttempts == 10)
        #expect(config.store.maxDocumentBytes == 2 << 30)
        #expect(config.store.partialUploadTimeoutSeconds == 86400)
        #expect(config.limits.maxFrameBytes == 1 << 20)
        #expect(config.adminSocket == base + "/data/admin.sock")
        #expect(config.metricsPort == nil)
        #expect(config.minimumCertificateDays == 14)
        #expect(config.logLevel == "info")
        #expect(config.auditCheckpointInterval == 64)
        #expect(config.directoryTTLSeconds == 3600)
        #expect(config.receiptRetentionDays == 90)
    }

    @Test func checkedInExampleIsValidAndSetsEveryKey() async throws {
        // The repository's documented example: find it relative to this source file.
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/klammer.yaml").path
        let config = try await DaemonConfiguration.load(file: example, environment: [:])
        #expect(config.listenHost == "0.0.0.0")
        #expect(config.dataDirectory == "/var/lib/klammer")
        #expect(config.store.maxDocumentBytes == 2 << 30)
        #expect(config.store.partialUploadTimeoutSeconds == 86400)
        #expect(config.adminSocket == "/var/lib/klammer/admin.sock")
    }

    @Test func environmentOverridesTheFile() async throws {
        let config = try await load(
            Self.minimal + "\nlisten:\n  port: 7700\n",
            environment: [
                "KLAMMER_LISTEN_PORT": "7801",
                "KLAMMER_STORE_DURABILITY": "always",
                "KLAMMER_TLS_CRL_FILES": "/a/crl1.pem, /a/crl2.pem",
                "KLAMMER_TLS_ALLOW_TLS12": "true",
                "KLAMMER_LIMITS_MAX_FRAME_BYTES": "4MiB",
                "KLAMMER_METRICS_MIN_CERTIFICATE_DAYS": "30"
            ])
        #expect(config.minimumCertificateDays == 30)
        #expect(config.listenPort == 7801)
        #expect(config.store.durability == .always)
        #expect(config.tls.crlFiles == ["/a/crl1.pem", "/a/crl2.pem"])
        #expect(config.tls.allowTLS12)
        #expect(config.limits.maxFrameBytes == 4 << 20)
    }

    @Test func missingFileIsUnreadable() async throws {
        do {
            _ = try await DaemonConfiguration.load(file: "/nonexistent/klammer.yaml", environment: [:])
            Issue.record("expected an error")
        } catch let error as ConfigurationError {
            #expect(error.code == .fileUnreadable)
            #expect(error.description.contains("/nonexistent/klammer.yaml"))
        }
    }

    @Test func syntaxErrorsAreReported() async throws {
        let broken = await failure("broker_id: [unclosed\n")
        #expect(broken?.code == .syntax)
        let notMapping = await failure("- just\n- a list\n")
        #expect(notMapping?.code == .syntax)
    }

    @Test func unknownKeysAreRefusedWithTheirLine() async throws {
        let error = await failure(Self.minimal + "\n  allow_tl12: true\n")
        #expect(error?.code == .unknownKey)
        #expect(error?.key == "tls.allow_tl12")
        #expect(error?.source.hasSuffix("klammer.yaml:8") == true)
        let topLevel = await failure(Self.minimal + "\nlisten_port: 1\n")
        #expect(topLevel?.key == "listen_port")
    }

    @Test func wrongTypesNameTheKey() async throws {
        let text = await failure(Self.minimal + "\nlisten:\n  port: seventy\n")
        #expect(text?.code == .wrongType)
        #expect(text?.key == "listen.port")
        let list = await failure(Self.minimal + "\nlisten:\n  port: [1, 2]\n")
        #expect(list?.code == .wrongType)
        #expect(list?.key == "listen.port")
        let scalarForList = await failure(Self.minimal.replacingOccurrences(of: "[crl.pem]", with: "crl.pem"))
        #expect(scalarForList?.code == .wrongType)
        #expect(scalarForList?.key == "tls.crl_files")
        let bool = await failure(Self.minimal + "\n  allow_tls12: maybe\n")
        #expect(bool?.code == .wrongType)
        #expect(bool?.key == "tls.allow_tls12")
        let empty = await failure(Self.minimal + "\nlog:\n  level:\n")
        #expect(empty?.code == .wrongType)
        #expect(empty?.key == "log.level")
        let section = await failure(Self.minimal + "\nstore: fast\n")
        #expect(section?.code == .wrongType)
        #expect(section?.key == "store")
    }

    @Test func outOfRangeValuesNameTheKeyAndTheRange() async throws {
        let port = await failure(Self.minimal + "\nlisten:\n  port: 70000\n")
        #expect(port?.code == .outOfRange)
        #expect(port?.key == "listen.port")
        #expect(port?.reason.contains("0…65535") == true)
        let frame = await failure(Self.minimal + "\nlimits:\n  max_frame_bytes: 64MiB\n")
        #expect(frame?.code == .outOfRange)
        #expect(frame?.key == "limits.max_frame_bytes")
        let fromEnvironment = await failure(Self.minimal, environment: ["KLAMMER_STORE_MAX_ATTEMPTS": "0"])
        #expect(fromEnvironment?.code == .outOfRange)
        #expect(fromEnvironment?.source == "environment variable KLAMMER_STORE_MAX_ATTEMPTS")
        let days = await failure(Self.minimal + "\nmetrics:\n  min_certificate_days: 5000\n")
        #expect(days?.code == .outOfRange && days?.key == "metrics.min_certificate_days")
        let partial = await failure(Self.minimal + "\nstore:\n  partial_upload_timeout_seconds: 0\n")
        #expect(partial?.code == .outOfRange && partial?.key == "store.partial_upload_timeout_seconds")
        let ttl = await failure(Self.minimal + "\ndirectory:\n  ttl_seconds: 10\n")
        #expect(ttl?.code == .outOfRange && ttl?.key == "directory.ttl_seconds")
        // Shorter than the 7-day dedupe window: duplicates could no longer be answered from the routing slip.
        let retention = await failure(Self.minimal + "\nstore:\n  receipt_retention_days: 3\n")
        #expect(retention?.code == .outOfRange && retention?.key == "store.receipt_retention_days")
    }

    /// `envelope.*` bounds of `created at` and TTL (SPEC.md §7.1 check 5a, §12): defaults, file, range.
    @Test func envelopeTimeBoundsHaveDefaultsAndRanges() async throws {
        let defaults = try await load(Self.minimal)
        #expect(
            defaults.maxClockSkewSeconds == 300 && defaults.maxEnvelopeAgeSeconds == 604_800 && defaults.maxTimeToLiveSeconds == 7_776_000)
        let set = try await load(
            Self.minimal + "\nenvelope:\n  max_clock_skew_seconds: 60\n  max_age_seconds: 3600\n  max_ttl_seconds: 86400\n")
        #expect(set.maxClockSkewSeconds == 60 && set.maxEnvelopeAgeSeconds == 3600 && set.maxTimeToLiveSeconds == 86400)
        let skew = await failure(Self.minimal + "\nenvelope:\n  max_clock_skew_seconds: 100000\n")
        #expect(skew?.code == .outOfRange && skew?.key == "envelope.max_clock_skew_seconds")
        let ttl = await failure(Self.minimal, environment: ["KLAMMER_ENVELOPE_MAX_TTL_SECONDS": "4294967296"])
        #expect(ttl?.code == .outOfRange && ttl?.key == "envelope.max_ttl_seconds")
    }

    @Test func partialUploadTimeoutComesFromTheFileOrTheEnvironment() async throws {
        let config = try await load(Self.minimal + "\nstore:\n  partial_upload_timeout_seconds: 600\n")
        #expect(config.store.partialUploadTimeoutSeconds == 600)
        let overridden = try await load(Self.minimal, environment: ["KLAMMER_STORE_PARTIAL_UPLOAD_TIMEOUT_SECONDS": "3600"])
        #expect(overridden.store.partialUploadTimeoutSeconds == 3600)
    }

    @Test func missingRequiredKeys() async throws {
        let noBroker = await failure(Self.minimal.replacingOccurrences(of: "broker_id: \"broker:test-1\"\n", with: ""))
        #expect(noBroker?.code == .missing)
        #expect(noBroker?.key == "broker_id")
        let noKey = await failure(Self.minimal.replacingOccurrences(of: "  key: broker.key", with: ""))
        #expect(noKey?.code == .missing)
        #expect(noKey?.key == "tls.key")
        let noCRL = await failure(Self.minimal.replacingOccurrences(of: "  crl_files: [crl.pem]\n", with: ""))
        #expect(noCRL?.code == .missing)
        #expect(noCRL?.key == "tls.crl_files")
        // Without CRLs only when revocation checking is explicitly relaxed.
        let relaxed = try await load(Self.minimal.replacingOccurrences(of: "  crl_files: [crl.pem]", with: "  require_crl: false"))
        #expect(relaxed.tls.crlFiles.isEmpty)
    }

    /// `batched` would let the broker sign `accepted` receipts before the message is fsynced (SPEC §7.2): refused,
    /// naming the key and what to do, also through the environment; so is its delay key.
    @Test func batchedDurabilityIsRefusedForTheBroker() async throws {
        let batched = await failure(Self.minimal + "\nstore:\n  durability: batched\n")
        #expect(batched?.code == .invalidValue)
        #expect(batched?.key == "store.durability")
        #expect(batched?.description.contains("set it to always") == true, "\(String(describing: batched))")
        do {
            _ = try await load(Self.minimal, environment: ["KLAMMER_STORE_DURABILITY": "batched"])
            Issue.record("batched durability from the environment was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == "store.durability")
        }
        let delay = await failure(Self.minimal + "\nstore:\n  batch_max_delay_ms: 5\n")
        #expect(delay?.key == "store.batch_max_delay_ms")
    }

    /// The bounds of issue 14 (open uploads, request rate, refusal budget): defaults, overrides and ranges.
    @Test func uploadRequestAndRefusalLimits() async throws {
        let defaults = try await load(Self.minimal)
        #expect(defaults.limits.maxOpenUploadsPerConnection == 256 && defaults.limits.maxOpenUploadsPerParticipant == 1024)
        #expect(defaults.limits.maxOpenUploads == 4096)
        #expect(defaults.limits.maxRequestsPerSecond == 10_000 && defaults.limits.maxRefusalsPerSecond == 10)
        let set = try await load(
            Self.minimal + "\nlimits:\n  max_open_uploads_per_connection: 8\n  max_refusals_per_second: 0\n",
            environment: ["KLAMMER_LIMITS_MAX_REQUESTS_PER_SECOND": "50", "KLAMMER_LIMITS_MAX_OPEN_UPLOADS": "100"])
        #expect(set.limits.maxOpenUploadsPerConnection == 8 && set.limits.maxRefusalsPerSecond == 0)
        #expect(set.limits.maxRequestsPerSecond == 50 && set.limits.maxOpenUploads == 100)
        let zero = await failure(Self.minimal + "\nlimits:\n  max_open_uploads_per_connection: 0\n")
        #expect(zero?.key == "limits.max_open_uploads_per_connection" && zero?.code == .outOfRange)
    }

    @Test func invalidValues() async throws {
        let durability = await failure(Self.minimal + "\nstore:\n  durability: sometimes\n")
        #expect(durability?.code == .invalidValue)
        #expect(durability?.key == "store.durability")
        let brokerID = await failure(Self.minimal.replacingOccurrences(of: "broker:test-1", with: "no colon"))
        #expect(brokerID?.code == .invalidValue)
        #expect(brokerID?.key == "broker_id")
        let level = await failure(Self.minimal + "\nlog:\n  level: loud\n")
        #expect(level?.key == "log.level")
        let socket = await failure(Self.minimal + "\nadmin:\n  socket: /\(String(repeating: "s", count: 120))\n")
        #expect(socket?.code == .invalidValue)
        #expect(socket?.key == "admin.socket")
        let samePort = await failure(Self.minimal + "\nlisten:\n  port: 9000\nmetrics:\n  port: 9000\n")
        #expect(samePort?.key == "metrics.port")
    }
}

/// `admin.tls.*`: off by default; with `listen` it needs fingerprints, and both are checked.
struct AdminTLSConfigurationTests {
    static let fingerprint = String(repeating: "ab", count: 32)

    @Test func offByDefaultAndParsedFromANestedSection() async throws {
        let tests = DaemonConfigurationTests()
        #expect(try await tests.load(DaemonConfigurationTests.minimal).adminTLS == nil)
        // Upper case with colons, as openssl prints it.
        let colons = Array(repeating: "AB", count: 32).joined(separator: ":")
        let config = try await tests.load(
            DaemonConfigurationTests.minimal + """

                admin:
                  tls:
                    listen: 127.0.0.1:7701
                    client_fingerprints:
                      - \(colons)
                """)
        #expect(config.adminTLS?.host == "127.0.0.1" && config.adminTLS?.port == 7701)
        #expect(config.adminTLS?.clientFingerprints == [Self.fingerprint])
        let fromEnvironment = try await tests.load(
            DaemonConfigurationTests.minimal,
            environment: [
                "KLAMMER_ADMIN_TLS_LISTEN": "[::1]:0",
                "KLAMMER_ADMIN_TLS_CLIENT_FINGERPRINTS": "\(Self.fingerprint),\(String(repeating: "0", count: 64))"
            ])
        #expect(fromEnvironment.adminTLS?.host == "::1" && fromEnvironment.adminTLS?.port == 0)
        #expect(fromEnvironment.adminTLS?.clientFingerprints.count == 2)
    }

    @Test func mistakesNameTheKey() async throws {
        let tests = DaemonConfigurationTests()
        let noFingerprints = await tests.failure(
            DaemonConfigurationTests.minimal, environment: ["KLAMMER_ADMIN_TLS_LISTEN": "127.0.0.1:7701"])
        #expect(noFingerprints?.key == "admin.tls.client_fingerprints" && noFingerprints?.code == .missing)
        let badFingerprint = await tests.failure(
            DaemonConfigurationTests.minimal,
            environment: [
                "KLAMMER_ADMIN_TLS_LISTEN": "127.0.0.1:7701", "KLAMMER_ADMIN_TLS_CLIENT_FINGERPRINTS": "abc"
            ])
        #expect(badFingerprint?.key == "admin.tls.client_fingerprints" && badFingerprint?.code == .invalidValue)
        let noPort = await tests.failure(
            DaemonConfigurationTests.minimal,
            environment: [
                "KLAMMER_ADMIN_TLS_LISTEN": "127.0.0.1", "KLAMMER_ADMIN_TLS_CLIENT_FINGERPRINTS": Self.fingerprint
            ])
        #expect(noPort?.key == "admin.tls.listen" && noPort?.code == .invalidValue)
        let samePort = await tests.failure(
            DaemonConfigurationTests.minimal,
            environment: [
                "KLAMMER_ADMIN_TLS_LISTEN": "127.0.0.1:7700", "KLAMMER_ADMIN_TLS_CLIENT_FINGERPRINTS": Self.fingerprint
            ])
        #expect(samePort?.key == "admin.tls.listen")
        let fingerprintsOnly = await tests.failure(
            DaemonConfigurationTests.minimal,
            environment: [
                "KLAMMER_ADMIN_TLS_CLIENT_FINGERPRINTS": Self.fingerprint
            ])
        #expect(fingerprintsOnly?.key == "admin.tls.listen" && fingerprintsOnly?.code == .missing)
        let typo = await tests.failure(DaemonConfigurationTests.minimal + "\nadmin:\n  tls:\n    lisen: 127.0.0.1:1\n")
        #expect(typo?.key == "admin.tls.lisen" && typo?.code == .unknownKey)
    }
}
