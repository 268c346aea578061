import Foundation
import KlammerConfig
import KlammerTestSupport
import Testing
@testable import klammerd

/// What production mode derives from the configuration for the store and the broker core.
struct ProductionEnvironmentTests {
    @Test func storeAndBrokerSettingsFollowTheConfiguration() async throws {
        let temp = try ShortTemporaryDirectory()
        let config = try KlammerdHarness.writeProductionSetup(in: temp.path).config
        let configuration = try await DaemonConfiguration.load(
            file: config,
            environment: [
                "KLAMMER_STORE_DURABILITY": "always",
                "KLAMMER_STORE_MAX_ATTEMPTS": "3", "KLAMMER_STORE_DEFAULT_TTL_SECONDS": "3600",
                "KLAMMER_STORE_MAX_DOCUMENT_BYTES": "10MiB", "KLAMMER_LIMITS_MAX_FRAME_BYTES": "64KiB",
                "KLAMMER_STORE_PARTIAL_UPLOAD_TIMEOUT_SECONDS": "900"
            ])
        let environment = try ProductionEnvironment(configuration: configuration)
        let store = environment.storeConfiguration()
        #expect(store.directory == temp.path + "/data/store")
        #expect(store.durability == .always)
        #expect(store.maxAttempts == 3)
        #expect(store.defaultTTL == .seconds(3600))
        #expect(store.maxBlobSize == 10 << 20)
        #expect(store.blobAbandonTimeout == .seconds(900))  // partial uploads (SPEC.md §4.8)
        let broker = try environment.brokerConfiguration()
        #expect(broker.brokerID.rawValue == "broker:test-1")
        #expect(broker.limits.maxFrameSize == 64 << 10)
        #expect(broker.limits.maxChunkSize == (64 << 10) - 64)
        #expect(broker.limits.maxMessageSize == 10 << 20)
        #expect(broker.directory == temp.path + "/data/broker")
        #expect(environment.visibilityTimeout == .seconds(300))
        // The data directory is private.
        let mode = try FileManager.default.attributesOfItem(atPath: temp.path + "/data")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o700)
    }

    @Test func keyOfAnotherCertificateIsRefused() async throws {
        let temp = try ShortTemporaryDirectory()
        let config = try KlammerdHarness.writeProductionSetup(in: temp.path).config
        let otherDirectory = try ShortTemporaryDirectory()
        try KlammerdHarness.writeProductionSetup(in: otherDirectory.path)
        try FileManager.default.removeItem(atPath: temp.path + "/broker.key")
        try FileManager.default.copyItem(atPath: otherDirectory.path + "/broker.key", toPath: temp.path + "/broker.key")
        let configuration = try await DaemonConfiguration.load(file: config, environment: [:])
        do {
            _ = try ProductionEnvironment(configuration: configuration)
            Issue.record("expected a refusal")
        } catch let error as ConfigurationError {
            #expect(error.key == "tls.key")
            #expect(error.reason.contains("is not the private key of the certificate"))
        }
    }
}
