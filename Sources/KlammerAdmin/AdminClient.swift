import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking client for the admin API (what `klammerctl` uses): one connection per call, `Connection: close`,
/// the answer read to EOF with a size limit and a receive timeout, so a stuck daemon cannot hang the CLI.
public struct AdminClient: Sendable {
    /// An HTTP answer.
    public struct Reply: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    /// Largest answer read (an audit tail of 1000 entries fits comfortably).
    public static let maximumReplyBytes = 64 << 20

    public let socketPath: String
    /// Seconds to wait for the daemon's answer.
    public let timeoutSeconds: Int
    /// Set: the calls go over mutual TLS to `admin.tls.listen` instead of the Unix socket.
    public let tls: AdminTLSTransport?

    public init(socketPath: String, timeoutSeconds: Int = 60) {
        self.socketPath = socketPath
        self.timeoutSeconds = timeoutSeconds
        self.tls = nil
    }

    /// A client for the admin API over mutual TLS (SPEC.md §11.1).
    public init(tls: AdminTLSTransport, timeoutSeconds: Int = 60) {
        self.socketPath = "https://\(tls.host):\(tls.port)"
        self.timeoutSeconds = timeoutSeconds
        self.tls = tls
    }

    /// Sends one request; throws ``AdminError`` if the socket cannot be reached or the answer is not HTTP.
    public func send(_ method: String, _ path: String, body: [UInt8]? = nil) throws -> Reply {
        if let tls {
            let response = try tls.exchange(Self.request(method, path, body: body), limit: Self.maximumReplyBytes, timeoutSeconds: timeoutSeconds)
            guard !response.isEmpty else {
                throw AdminError(.unreachable, "klammerd closed the admin TLS connection without an answer: the certificate is not admitted (it must chain to the broker's CA and be listed in admin.tls.client_fingerprints)")
            }
            return try Self.parse(response)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AdminError(.unreachable, "cannot create a Unix socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw AdminError(.invalidSetup, "the admin socket path \(socketPath) is longer than a Unix socket path may be (107 bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            throw AdminError(.unreachable, "cannot connect to the admin socket \(socketPath): \(reason). Is klammerd running, and are you the user it runs as? klammerd prints the socket path at start ('admin …').")
        }
        try writeAll(fd, Self.request(method, path, body: body))
        let response = try readAll(fd)
        return try Self.parse(response)
    }

    /// Sends a request and decodes a 2xx answer as `T`; a non-2xx answer throws its ``AdminError``.
    public func call<T: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = Optional<String>.none, as type: T.Type) throws -> T {
        let encoded = try body.map { Array(try AdminJSON.encoder().encode($0)) }
        let reply = try send(method, path, body: encoded)
        guard (200..<300).contains(reply.status) else {
            if let error = AdminError.decode(status: reply.status, body: reply.body) { throw error }
            throw AdminError(.badResponse, "the admin API answered HTTP \(reply.status): \(String(decoding: reply.body.prefix(500), as: UTF8.self))")
        }
        do {
            return try AdminJSON.decoder().decode(type, from: Data(reply.body))
        } catch {
            throw AdminError(.badResponse, "the admin API's answer is not the expected \(T.self): \(error)")
        }
    }

    /// One HTTP/1.1 request with `Connection: close`.
    static func request(_ method: String, _ path: String, body: [UInt8]?) -> [UInt8] {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: klammerd\r\nConnection: close\r\nAccept: application/json\r\n"
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        request += "\r\n"
        return Array(request.utf8) + (body ?? [])
    }

    /// Percent-encodes one path segment (participant ids contain ':', which is fine; '/', '?', '%' … are not).
    public static func segment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AdminError(.unreachable, "cannot send the request to \(socketPath): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    private func readAll(_ fd: Int32) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw AdminError(.timeout, "klammerd did not answer within \(timeoutSeconds) s on \(socketPath)")
                }
                throw AdminError(.unreachable, "cannot read the answer from \(socketPath): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return result }
            result += chunk[..<n]
            guard result.count <= Self.maximumReplyBytes else {
                throw AdminError(.badResponse, "the admin API's answer is larger than \(Self.maximumReplyBytes) bytes")
            }
        }
    }

    /// Parses `HTTP/1.1 <status> …\r\n<headers>\r\n\r\n<body>`; the body is everything after the headers
    /// (the server closes the connection after it), cut to Content-Length when present.
    public static func parse(_ response: [UInt8]) throws -> Reply {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = response.firstRange(of: separator) else {
            throw AdminError(.badResponse, "the admin socket answered something that is not HTTP (\(response.count) bytes)")
        }
        let head = String(decoding: response[..<end.lowerBound], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw AdminError(.badResponse, "the admin socket answered a malformed status line: \(lines[0].prefix(100))")
        }
        var body = Array(response[end.upperBound...])
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length",
               let length = Int(parts[1].trimmingCharacters(in: .whitespaces)), length <= body.count {
                body = Array(body[..<length])
            }
        }
        return Reply(status: status, body: body)
    }
}
