import Foundation
import KlammerCrypto
public import KlammerProtocol
import KlammerTLS
public import Logging
import NIOCore
import NIOPosix

extension KlammerClient {
    /// Connects with the credentials and broker address of `profile`.
    public static func connect(
        profile: ClientProfile, limits: ProtocolLimits = .default,
        logger: Logger = Logger(label: "klammer.client")
    ) async throws(KlammerClientError) -> KlammerClient {
        let credentials = try ClientCredentials.load(profile)
        let (host, port) = try profile.brokerAddress()
        return try await connect(host: host, port: port, credentials: credentials, limits: limits, logger: logger)
    }

    /// Opens a mutual-TLS connection (ALPN `klammer/1`) to `host:port`, sends HELLO and waits for WELCOME.
    ///
    /// The broker is verified against `credentials.trustStore`; a host name (not an IP literal) is also sent as SNI
    /// and checked against the broker certificate's SANs.
    public static func connect(
        host: String, port: Int, credentials: ClientCredentials, limits: ProtocolLimits = .default,
        logger: Logger = Logger(label: "klammer.client")
    ) async throws(KlammerClientError) -> KlammerClient {
        var configuration = TLSConfiguration.client(
            certificateChain: credentials.certificateChain, privateKey: credentials.privateKey, trustStore: credentials.trustStore)
        if !isIPAddress(host) { configuration.serverHostname = host }
        let context: TLSContext
        do { context = try TLSContext(configuration: configuration) } catch {
            throw KlammerClientError(.invalidProfile, "cannot use these credentials for TLS: \(error)")
        }
        let decoderLimits = limits
        let asyncChannel: NIOAsyncChannel<Frame, Frame>
        do {
            asyncChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in
                    configureTLSClientPipeline(channel: channel, context: context, logger: logger).flatMapThrowing {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(FlushCoalescingHandler())  // one TLS record + write per tick, not per frame
                        try sync.addHandler(ByteToMessageHandler(KlammerFrameDecoder(limits: decoderLimits)))
                        try sync.addHandler(MessageToByteHandler(KlammerFrameEncoder()))
                        return try NIOAsyncChannel<Frame, Frame>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw KlammerClientError(
                .connectionFailed, "cannot connect to the broker at \(host):\(port): \(error); is klammerd running there (check --broker)?")
        }
        let client = KlammerClient(credentials: credentials, limits: limits, logger: logger)
        let channel = asyncChannel.channel
        Task {
            do {
                try await asyncChannel.executeThenClose { inbound, outbound in
                    let writer = FrameWriter(write: { try await outbound.write($0) }, close: { channel.close(promise: nil) })
                    await client.start(writer: writer)
                    for try await frame in inbound {
                        await client.handle(frame)
                    }
                }
                await client.transportClosed()
            } catch {
                await client.transportFailed(error)
                await client.transportClosed()
            }
        }
        let timeout = Task {
            try await Task.sleep(for: connectTimeout)
            await client.failAll(
                KlammerClientError(
                    .timeout, "no WELCOME from the broker at \(host):\(port) within \(connectTimeout); is it a Klammer broker?"))
        }
        defer { timeout.cancel() }
        do {
            _ = try await client.awaitWelcome()
        } catch let error as KlammerClientError {
            throw error
        } catch {
            throw KlammerClientError(.connectionFailed, "\(error)")
        }
        let peer = try? await channel.tlsPeerIdentity().get()
        await client.setBrokerCertificate(peer?.certificate)
        return client
    }

    func setBrokerCertificate(_ certificate: Certificate?) {
        brokerCertificate = certificate
    }

    static func isIPAddress(_ host: String) -> Bool {
        if host.contains(":") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}
