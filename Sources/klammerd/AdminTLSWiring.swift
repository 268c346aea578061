import Foundation
import KlammerAdmin
import KlammerConfig
import KlammerServer
import KlammerTLS
import Logging
import Synchronization

/// `admin.tls.*`: the admin API over mutual TLS next to the Unix socket, with the broker's certificate and trust
/// store as they are after the latest reload (a new CRL also shuts out a revoked admin certificate).
enum AdminTLSWiring {
    static func server(_ settings: DaemonConfiguration.AdminTLS, daemon: BrokerDaemon, service: AdminService, logger: Logger) throws
        -> AdminTLSServer
    {
        // Derived once per broker context (not per connection): rebuilt only after a reload swapped the context.
        let initial = try AdminTLSServer.adminContext(from: daemon.tlsContext.configuration)
        // Holds the source context itself (not its ObjectIdentifier, which a freed context's successor could reuse).
        let cache = Mutex((source: daemon.tlsContext, context: initial))
        let provider: @Sendable () -> TLSContext = {
            let current = daemon.tlsContext
            return cache.withLock { cached in
                if cached.source !== current, let fresh = try? AdminTLSServer.adminContext(from: current.configuration) {
                    cached = (current, fresh)
                }
                return cached.context
            }
        }
        return AdminTLSServer(
            host: settings.host, port: settings.port, contextProvider: provider,
            clientFingerprints: settings.clientFingerprints, service: service, logger: logger,
            onListening: { address in
                // Printed once it accepts connections, so scripts and tests can wait for this line.
                FileHandle.standardOutput.write(
                    Data(
                        "  admin-tls     \(settings.host):\(address.port ?? 0)  (mutual TLS, ALPN http/1.1, \(settings.clientFingerprints.count) admin certificate(s))\n"
                            .utf8))
            })
    }
}
