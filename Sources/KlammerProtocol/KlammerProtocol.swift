/// The version of the Klammer wire protocol this module encodes and decodes.
public let klammerProtocolVersion: UInt16 = 1

/// The ALPN protocol identifier of the Klammer wire protocol, version 1 (SPEC.md §1.9): TLS contexts offer it by
/// default, and a broker refuses a connection that negotiated anything else.
public let klammerALPN = "klammer/1"

// KlammerProtocol: the Klammer wire protocol as pure values and a strict codec (SPEC.md §4–§6).
//
// Pipeline (server and client alike; each side decodes with its own limits):
//
//     try channel.pipeline.syncOperations.addHandlers([
//         ByteToMessageHandler(KlammerFrameDecoder(limits: limits)),
//         MessageToByteHandler(KlammerFrameEncoder()),
//         connectionHandler,  // InboundIn = Frame, OutboundOut = Frame
//     ])
//
// The connection handler tracks `ConnectionPhase` (`allows(_:from:)`), the upload `FlowControlWindow`
// and request ids. On `errorCaught` with a `ProtocolError` it writes `Frame.error(.init(error))`
// (request id 0) and closes.
//
// Without NIO: `FrameParser.parse(&buffer, limits:)` returns the next frame or nil, and
// `Frame.encode(into:)` appends one.
//
// Signing/verification (KlammerCrypto) works on the canonical bytes defined here:
// `Envelope.canonicalBytes` (sender), `Receipt.canonicalBytes` (broker),
// `AcknowledgementStatement.canonicalBytes` (recipient), `BatchRootStatement.canonicalBytes` (batch).
