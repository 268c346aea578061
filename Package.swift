// swift-tools-version:6.1
import PackageDescription

// Klammer: a secure inter-agency message broker.
// Module graph (lowest first; each depends only on modules above it):
//   COpenSSL (system library) + COpenSSLShims (C)  -- the C boundary
//   KlammerCrypto  -- X.509, keys, CRLs, signatures, PKI generation (internal import COpenSSL)
//   KlammerTLS     -- OpenSSL-backed SwiftNIO channel handler, TLS policy, mutual-TLS identity
//   KlammerProtocol -- frames, codec, canonical envelope bytes, error codes (no I/O)
//   KlammerStore   -- crash-safe file-backed log, queues, blobs (no networking)
//   KlammerBroker  -- registry, routing policy, signature checks, receipts (no sockets)
//   KlammerServer  -- bootstraps, pipelines, service lifecycle, dev-mode PKI
//   klammerd / klammerctl / klammer -- thin executables

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Klammer",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KlammerCrypto", targets: ["KlammerCrypto"]),
        .library(name: "KlammerTLS", targets: ["KlammerTLS"]),
        .library(name: "KlammerProtocol", targets: ["KlammerProtocol"]),
        .library(name: "KlammerStore", targets: ["KlammerStore"]),
        .library(name: "KlammerClient", targets: ["KlammerClient"]),
        .executable(name: "klammerd", targets: ["klammerd"]),
        .executable(name: "klammerctl", targets: ["klammerctl"]),
        .executable(name: "klammer", targets: ["klammer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: ["YAML"]),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: C boundary
        .systemLibrary(
            name: "COpenSSL",
            path: "Sources/COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .target(
            name: "COpenSSLShims",
            dependencies: ["COpenSSL"],
            path: "Sources/COpenSSLShims"
        ),

        // MARK: Libraries
        .target(
            name: "KlammerCrypto",
            dependencies: ["COpenSSL", "COpenSSLShims"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerTLS",
            dependencies: [
                "KlammerCrypto", "COpenSSL", "COpenSSLShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // CRC32C with the CPU's CRC32 instruction (the store checksums every record and blob byte).
        .target(name: "CKlammerCRC32C"),
        .target(
            name: "KlammerStore",
            dependencies: [
                "CKlammerCRC32C",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "KlammerBroker",
            dependencies: [
                "KlammerCrypto", "KlammerProtocol", "KlammerStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerServer",
            dependencies: [
                "KlammerCrypto", "KlammerTLS", "KlammerProtocol", "KlammerStore", "KlammerBroker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),

        // The daemon's configuration file + KLAMMER_* environment overrides, parsed into a typed value.
        .target(
            name: "KlammerConfig",
            dependencies: [
                "KlammerProtocol",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // The hash-chained, broker-signed audit log (no networking).
        .target(
            name: "KlammerAudit",
            dependencies: ["KlammerCrypto"],
            swiftSettings: swiftSettings
        ),
        // The operator's admin API: HTTP/1.1 + JSON on a Unix socket (server and the types klammerctl uses).
        .target(
            name: "KlammerAdmin",
            dependencies: [
                "KlammerAudit", "KlammerBroker", "KlammerCrypto", "KlammerTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerClient",
            dependencies: [
                "KlammerProtocol", "KlammerTLS", "KlammerCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables (argument parsing and wiring only)
        .executableTarget(
            name: "klammerd",
            dependencies: [
                "KlammerCrypto", "KlammerTLS", "KlammerStore", "KlammerServer",
                "KlammerConfig", "KlammerAudit", "KlammerAdmin", "KlammerBroker", "KlammerProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "klammerctl",
            dependencies: [
                "KlammerCrypto", "KlammerBroker", "KlammerAudit", "KlammerAdmin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "klammer",
            dependencies: [
                "KlammerCrypto", "KlammerTLS", "KlammerProtocol", "KlammerClient",
                "KlammerAdmin",  // bench W4: registers its fan-out recipients through the dev broker's admin socket
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helper process for the store's kill -9 crash tests: appends under load, prints confirmed ids.
        .target(name: "CFuzzerDriver"),
        .target(
            name: "KlammerFuzzTargets",
            dependencies: ["KlammerProtocol", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "klammer-fuzz", dependencies: ["KlammerFuzzTargets", "CFuzzerDriver"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "klammer-store-crashtest",
            dependencies: ["KlammerStore"],
            swiftSettings: swiftSettings
        ),

        // MARK: Benchmarks (print numbers next to the machine's own limits; not timed tests)
        .executableTarget(
            name: "klammer-tls-bench",
            dependencies: [
                "KlammerTLS", "KlammerCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "klammer-store-bench",
            dependencies: [
                "KlammerStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        // Helpers the test targets share: running our executables with a timeout, temporary directories,
        // /proc memory readers, test payloads. Not a product.
        .target(
            name: "KlammerTestSupport",
            path: "Tests/KlammerTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerCryptoTests",
            dependencies: ["KlammerCrypto", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerTLSTests",
            dependencies: [
                "KlammerTLS", "KlammerCrypto", "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerProtocolTests",
            dependencies: [
                "KlammerProtocol", "KlammerFuzzTargets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            exclude: ["FuzzRegressions"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerBrokerTests",
            dependencies: ["KlammerBroker", "KlammerCrypto", "KlammerProtocol", "KlammerStore", "KlammerTestSupport",
                           "KlammerAudit"],  // BrokerFreeSpaceTests: the audit log on the full disk
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerServerTests",
            dependencies: [
                "KlammerServer", "KlammerCrypto", "KlammerTLS", "KlammerProtocol", "KlammerBroker", "KlammerStore", "klammerd",
                "KlammerAdmin", "klammerctl", "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerctlTests",
            dependencies: ["KlammerCrypto", "klammerctl", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerConfigTests",
            dependencies: ["KlammerConfig"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerAuditTests",
            dependencies: ["KlammerAudit", "KlammerCrypto"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerAdminTests",
            dependencies: [
                "KlammerAdmin", "KlammerAudit", "KlammerBroker", "KlammerCrypto", "KlammerServer", "klammerd", "klammerctl", "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerClientTests",
            dependencies: [
                "KlammerClient", "KlammerProtocol", "KlammerCrypto", "KlammerTLS", "klammer", "klammerd", "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The simulated Mecklenburg-Vorpommern network under faults: real klammerd/klammerctl processes, KlammerClient actors.
        .testTarget(
            name: "KlammerIntegrationTests",
            dependencies: [
                "KlammerClient", "KlammerProtocol", "KlammerCrypto", "KlammerTLS", "klammerd", "klammerctl", "KlammerTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerStoreTests",
            dependencies: ["KlammerStore", "klammer-store-crashtest", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
