import KlammerCrypto

// The ALPN identifier `klammerALPN` ("klammer/1") is the wire protocol's: KlammerProtocol defines it.

// Recipe (klammerd --dev): mutual TLS for a NIOPosix server in one call.
//
//     let context = try TLSContext(configuration: .server(
//         certificateChain: [brokerCertificate], privateKey: brokerKey,
//         trustStore: TrustStore(anchors: [ca.certificate], crls: [crl])))
//     let authorizer = PeerAuthorizer { peer in
//         await registry.contains(peer.fingerprint) ? .accept : .reject(reason: "not a registered participant")
//     }
//     let server = try await ServerBootstrap(group: group)
//         .childChannelInitializer { channel in
//             configureTLSServerPipeline(channel: channel, context: context, authorizer: authorizer, logger: logger)
//                 .flatMapThrowing { try channel.pipeline.syncOperations.addHandler(KlammerProtocolHandler()) }
//         }
//         .bind(host: "0.0.0.0", port: 7443).get()
//
// Clients: `configureTLSClientPipeline(channel:context:authorizer:logger:)` with a `.client(...)` context.
// Application handlers see plaintext only after `TLSEvent.authorized(PeerIdentity)`.
