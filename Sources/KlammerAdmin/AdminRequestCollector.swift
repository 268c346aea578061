import NIOHTTP1

/// Collects one HTTP/1.1 request (head and bounded body) and decides what the handler does next. A value-type
/// state machine: the handler feeds it parts and carries out the returned action.
struct AdminRequestCollector {
    /// Largest request body accepted (a certificate PEM plus a little JSON).
    static let maximumBodyBytes = 256 * 1024

    enum State {
        case idle
        case receiving(method: String, uri: String, body: [UInt8])
        /// A request was dispatched or refused; everything else on this connection is ignored until it closes.
        case done
    }

    enum Action: Equatable {
        case none
        case dispatch(method: String, uri: String, body: [UInt8])
        case reject(AdminError)
    }

    private(set) var state = State.idle

    mutating func receive(_ part: HTTPServerRequestPart) -> Action {
        switch (state, part) {
        case (.idle, .head(let head)):
            guard head.version.major == 1 else {
                state = .done
                return .reject(AdminError(.httpVersion, "the admin API speaks HTTP/1.1"))
            }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > Self.maximumBodyBytes {
                state = .done
                return .reject(AdminError(.tooLarge, "request bodies are limited to \(Self.maximumBodyBytes) bytes"))
            }
            state = .receiving(method: head.method.rawValue, uri: head.uri, body: [])
            return .none
        case (.receiving(let method, let uri, var body), .body(var buffer)):
            guard body.count + buffer.readableBytes <= Self.maximumBodyBytes else {
                state = .done
                return .reject(AdminError(.tooLarge, "request bodies are limited to \(Self.maximumBodyBytes) bytes"))
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
            state = .receiving(method: method, uri: uri, body: body)
            return .none
        case (.receiving(let method, let uri, let body), .end):
            state = .done
            return .dispatch(method: method, uri: uri, body: body)
        case (.done, _):
            return .none
        default:
            state = .done
            return .reject(AdminError(.badRequest, "malformed HTTP request"))
        }
    }
}
