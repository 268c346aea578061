import KlammerBroker
import KlammerConfig
import KlammerProtocol
import KlammerStore

extension ProductionEnvironment {
    /// The store settings from `store.*` (for the composition service that runs store + broker + transport).
    func storeConfiguration() -> StoreConfiguration {
        let store = configuration.store
        var result = StoreConfiguration(directory: configuration.storeDirectory)
        switch store.durability {
        case .always:
            result.durability = .always
        }
        result.maxBlobSize = UInt64(store.maxDocumentBytes)
        // Unfinished uploads: resumable for this long, then deleted (SPEC.md §4.8, §9.3).
        result.blobAbandonTimeout = .seconds(store.partialUploadTimeoutSeconds)
        result.maxAttempts = store.maxAttempts
        result.defaultTTL = .seconds(store.defaultTTLSeconds)
        return result
    }

    /// The broker core settings: identity, receipt-signing key, and the protocol limits from `limits.*` and
    /// `store.max_document_bytes`. Throws if they do not fit together (`BrokerConfiguration.validate`).
    func brokerConfiguration() throws -> BrokerConfiguration {
        var result = try BrokerConfiguration(
            brokerID: try ParticipantID(configuration.brokerID), certificate: brokerCertificate, key: brokerKey,
            directory: configuration.brokerDirectory)
        var limits = ProtocolLimits.default
        limits.maxFrameSize = UInt32(configuration.limits.maxFrameBytes)
        // A chunk plus its header must fit in one frame.
        limits.maxChunkSize = min(limits.maxChunkSize, limits.maxFrameSize - 64)
        limits.maxMessageSize = UInt64(configuration.store.maxDocumentBytes)
        result.limits = limits
        result.directoryTTL = .seconds(configuration.directoryTTLSeconds)
        result.receiptRetention = .seconds(configuration.receiptRetentionDays * 24 * 3600)
        result.maxClockSkew = .seconds(configuration.maxClockSkewSeconds)
        result.maxEnvelopeAge = .seconds(configuration.maxEnvelopeAgeSeconds)
        result.maxTimeToLive = .seconds(configuration.maxTimeToLiveSeconds)
        result.maxQueuedMessagesPerRecipient = configuration.store.maxQueuedMessagesPerRecipient
        result.freeSpaceReserveBytes = UInt64(configuration.store.freeSpaceReserveBytes)
        result.storeDirectory = configuration.storeDirectory
        try result.validate()
        return result
    }

    /// How long a delivered, unacknowledged message stays leased (`store.visibility_timeout_seconds`).
    var visibilityTimeout: Duration { .seconds(configuration.store.visibilityTimeoutSeconds) }
}
