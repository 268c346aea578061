import Foundation
import Synchronization

/// A TCP relay on 127.0.0.1 between a client and the broker (plain bytes; TLS passes through untouched) that the
/// test can cut — both sockets of every relayed connection shut down at once, like a failed network — and whose
/// broker → client direction can be throttled (a slow consumer whose TCP receive window fills up).
final class CutProxy: Sendable {
    private struct State {
        var targetPort = 0
        var sockets: Set<Int32> = []
        var bytesPerSecond = 0
        var cuts = 0
        var stopped = false
    }
    let port: Int
    private let listener: Int32
    private let state = Mutex(State())

    init(targetPort: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw IntegrationError("proxy: socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw IntegrationError("proxy: bind/listen failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        state.withLock { $0.targetPort = targetPort }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// The broker's port changes at every restart (`listen.port: 0`).
    func setTarget(_ port: Int) { state.withLock { $0.targetPort = port } }
    /// 0: unthrottled.
    func throttle(bytesPerSecond: Int) { state.withLock { $0.bytesPerSecond = bytesPerSecond } }
    var cuts: Int { state.withLock { $0.cuts } }

    /// Shuts down every relayed connection (both directions, both sides) now.
    func cutAll() {
        let sockets = state.withLock { s -> Set<Int32> in
            s.cuts += 1; return s.sockets
        }
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    func stop() {
        state.withLock { $0.stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        cutAll()
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                close(listener)
                return
            }
            let (target, stopped) = state.withLock { ($0.targetPort, $0.stopped) }
            if stopped { close(client); continue }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(target).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(upstream); close(client); continue }
            state.withLock { $0.sockets.formUnion([client, upstream]) }
            let done = Mutex(0)
            let finish: @Sendable () -> Void = { [self] in
                // The second direction to finish closes both descriptors (only then may the numbers be reused).
                if done.withLock({
                    $0 += 1; return $0
                }) == 2 {
                    state.withLock { $0.sockets.subtract([client, upstream]) }
                    close(client)
                    close(upstream)
                }
            }
            Thread { [self] in
                relay(from: client, to: upstream, throttled: false); finish()
            }.start()
            Thread { [self] in
                relay(from: upstream, to: client, throttled: true); finish()
            }.start()
        }
    }

    private func relay(from source: Int32, to destination: Int32, throttled: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            var limit = buffer.count
            let rate = throttled ? state.withLock { $0.bytesPerSecond } : 0
            if rate > 0 { limit = min(limit, max(1024, rate / 20)) }
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, limit) }
            if n <= 0 { break }
            var offset = 0
            while offset < n {
                // MSG_NOSIGNAL: a peer that is gone must not raise SIGPIPE in the test process.
                let w = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { break }
                offset += w
            }
            if offset < n { break }
            if rate > 0 { Thread.sleep(forTimeInterval: Double(n) / Double(rate)) }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
    }
}
