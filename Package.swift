// swift-tools-version:6.1
import PackageDescription

// Klammer: a secure inter-agency message broker.
// Module graph (lowest first; each depends only on modules above it):
//   COpenSSL (system library) + COpenSSLShims (C)  -- the C boundary
//   KlammerHex     -- hex text for bytes (package access)
//   KlammerCrypto  -- X.509, keys, CRLs, signatures, PKI generation (internal import COpenSSL)
//   KlammerProtocol -- frames, codec, canonical envelope bytes, error codes, ALPN identifier (no I/O)
//   KlammerTLS     -- OpenSSL-backed SwiftNIO channel handler, TLS policy, mutual-TLS identity, flush coalescing
//   KlammerStore   -- crash-safe file-backed log, queues, blobs (no networking)
//   KlammerBroker  -- registry, routing policy, signature checks, receipts (no sockets)
//   KlammerPKI     -- the operator CA directory of SPEC.md §8 (klammerctl pki, dev-mode participants)
//   KlammerServer  -- bootstraps, pipelines, service lifecycle, dev-mode PKI
//   klammerd / klammerctl / klammer -- thin executables; klammer-*-bench -- benchmarks

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("InternalImportsByDefault")
]

let package = Package(
    name: "Klammer",
    // Linux only (README "Quick start"): the sources import Glibc unconditionally and use Linux interfaces
    // (fdatasync, MAP_POPULATE, SO_PEERCRED, /proc). No Apple platform is declared because none builds.
    products: [
        .library(name: "KlammerCrypto", targets: ["KlammerCrypto"]),
        .library(name: "KlammerTLS", targets: ["KlammerTLS"]),
        .library(name: "KlammerProtocol", targets: ["KlammerProtocol"]),
        .library(name: "KlammerStore", targets: ["KlammerStore"]),
        .library(name: "KlammerClient", targets: ["KlammerClient"]),
        .library(name: "KlammerPKI", targets: ["KlammerPKI"]),
        .executable(name: "klammerd", targets: ["klammerd"]),
        .executable(name: "klammerctl", targets: ["klammerctl"]),
        .executable(name: "klammer", targets: ["klammer"]),
        .executable(name: "klammer-bench", targets: ["klammer-bench"])
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
        // SystemPackage (FilePath) for KlammerConfig; swift-nio and swift-configuration depend on it already.
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0")
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

        // Hex text for bytes, the one coder every module uses (package access only; no product exports it).
        .target(name: "KlammerHex", swiftSettings: swiftSettings),

        // MARK: Libraries
        .target(
            name: "KlammerCrypto",
            dependencies: ["COpenSSL", "COpenSSLShims", "KlammerHex"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerTLS",
            dependencies: [
                "KlammerCrypto", "KlammerProtocol", "COpenSSL", "COpenSSLShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerProtocol",
            dependencies: [
                "KlammerHex",
                .product(name: "NIOCore", package: "swift-nio")
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
                .product(name: "DequeModule", package: "swift-collections")
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "KlammerBroker",
            dependencies: [
                "KlammerCrypto", "KlammerProtocol", "KlammerStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerServer",
            dependencies: [
                "KlammerCrypto", "KlammerTLS", "KlammerProtocol", "KlammerStore", "KlammerBroker", "KlammerPKI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus")
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
                .product(name: "SystemPackage", package: "swift-system")
            ],
            swiftSettings: swiftSettings
        ),
        // The operator's CA directory (SPEC.md §8): create, issue, revoke, CRLs, the certificate database.
        .target(
            name: "KlammerPKI",
            dependencies: ["KlammerCrypto", "KlammerBroker"],
            swiftSettings: swiftSettings
        ),
        // The hash-chained, broker-signed audit log (no networking).
        .target(
            name: "KlammerAudit",
            dependencies: ["KlammerCrypto", "KlammerHex", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: swiftSettings
        ),
        // The operator's admin API: HTTP/1.1 + JSON on a Unix socket (server and the types klammerctl uses).
        .target(
            name: "KlammerAdmin",
            dependencies: [
                "KlammerAudit", "KlammerBroker", "KlammerCrypto", "KlammerTLS", "KlammerProtocol", "KlammerStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KlammerClient",
            dependencies: [
                "KlammerProtocol", "KlammerTLS", "KlammerCrypto", "KlammerHex",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
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
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "klammerctl",
            dependencies: [
                "KlammerCrypto", "KlammerBroker", "KlammerAudit", "KlammerAdmin", "KlammerPKI", "KlammerProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "klammer",
            dependencies: [
                "KlammerCrypto", "KlammerTLS", "KlammerProtocol", "KlammerClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio")
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
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: swiftSettings
        ),
        // The broker end to end (W1-W5, open-loop W1/W2): starts its own klammerd --dev or measures a given broker.
        .executableTarget(
            name: "klammer-bench",
            dependencies: [
                "KlammerCrypto", "KlammerProtocol", "KlammerClient",
                "KlammerAdmin",  // W4: registers its fan-out recipients through the dev broker's admin socket
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift")
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "klammer-crypto-bench",
            dependencies: ["KlammerCrypto"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "klammer-store-bench",
            dependencies: [
                "KlammerStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        // Helpers the test targets share: running our executables with a timeout, temporary directories,
        // /proc memory readers, a test run alone in a child process, the test PKI, test payloads, a running klammerd
        // with its start-up lines read and a production setup for it. Not a product.
        .target(
            name: "KlammerTestSupport",
            dependencies: ["KlammerCrypto"],  // TestCA: the one test PKI builder
            path: "Tests/KlammerTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerCryptoTests",
            dependencies: ["KlammerCrypto", "KlammerHex", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerTLSTests",
            dependencies: [
                "KlammerTLS", "KlammerCrypto", "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerProtocolTests",
            dependencies: [
                "KlammerProtocol", "KlammerFuzzTargets",
                "KlammerCrypto",  // SHA-256 for the batch-proof fold and envelope-digest vectors (the module computes none)
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio")
            ],
            exclude: ["FuzzRegressions"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerBrokerTests",
            dependencies: [
                "KlammerBroker", "KlammerCrypto", "KlammerProtocol", "KlammerStore", "KlammerTestSupport",
                "KlammerAudit"
            ],  // BrokerFreeSpaceTests: the audit log on the full disk
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerServerTests",
            dependencies: [
                "KlammerServer", "KlammerCrypto", "KlammerTLS", "KlammerProtocol", "KlammerBroker", "KlammerStore", "klammerd",
                "KlammerAdmin", "klammerctl", "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerctlTests",
            dependencies: ["KlammerCrypto", "klammerctl", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerPKITests",
            dependencies: ["KlammerPKI", "KlammerCrypto"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerConfigTests",
            dependencies: ["KlammerConfig"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerAuditTests",
            dependencies: ["KlammerAudit", "KlammerCrypto", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerAdminTests",
            dependencies: [
                "KlammerAdmin", "KlammerAudit", "KlammerBroker", "KlammerCrypto", "KlammerStore", "klammerd", "klammerctl",
                "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ],
            swiftSettings: swiftSettings
        ),
        // The daemon executable: its dev banner, production start, environment, reload and refusal recording.
        .testTarget(
            name: "KlammerdTests",
            dependencies: [
                "klammerd", "klammerctl", "klammer", "KlammerTestSupport",
                "KlammerAdmin", "KlammerAudit", "KlammerConfig", "KlammerCrypto", "KlammerProtocol", "KlammerServer",
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerClientTests",
            dependencies: [
                "KlammerClient", "KlammerProtocol", "KlammerCrypto", "KlammerTLS", "klammer", "klammerd", "KlammerTestSupport",
                .product(name: "NIOCore", package: "swift-nio")
            ],
            swiftSettings: swiftSettings
        ),
        // Smoke runs of klammer-bench (it runs and its output parses; the numbers are not checked).
        .testTarget(
            name: "KlammerBenchTests",
            dependencies: ["klammer-bench", "klammerd", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        ),
        // The simulated Mecklenburg-Vorpommern network under faults: real klammerd/klammerctl processes, KlammerClient actors.
        .testTarget(
            name: "KlammerIntegrationTests",
            dependencies: [
                "KlammerClient", "KlammerProtocol", "KlammerCrypto", "KlammerTLS", "klammerd", "klammerctl", "KlammerTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio")
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KlammerStoreTests",
            dependencies: ["KlammerStore", "klammer-store-crashtest", "KlammerTestSupport"],
            swiftSettings: swiftSettings
        )
    ]
)
