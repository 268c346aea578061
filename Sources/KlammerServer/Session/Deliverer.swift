import KlammerBroker
import KlammerProtocol
import KlammerStore
import NIOCore

/// Streams one leased message to the client: DELIVER_BEGIN, DELIVER_CHUNKs read from the store piece by piece (each
/// write awaited, so at most one chunk per connection is buffered and a slow reader slows only its own delivery),
/// DELIVER_END, then the `delivered` receipt (SPEC.md §4.4.15–17, §4.6).
struct Deliverer {
    let broker: Broker
    let output: SessionOutput
    let chunkSize: Int
    let clientMaxFrameSize: UInt32
    let participant: Participant
    let consumer: ConsumerID

    /// Delivers `delivery` from `offset`; false if it cannot be delivered on this connection (then it is returned to
    /// the queue with a delay and no credit is spent).
    func deliver(_ delivery: BrokerDelivery, requestID: UInt32, offset requestedOffset: UInt64) async throws -> Bool {
        let message = delivery.message
        let length = message.stored.envelope.payloadLength
        let offset = requestedOffset <= length ? requestedOffset : 0
        let begin = Frame.deliverBegin(
            .init(
                requestID: requestID, storedEnvelope: message.stored,
                senderSignature: message.senderSignature,
                senderCertificate: message.senderCertificateDER, offset: offset))
        guard begin.encodedBytes.count <= Int(clientMaxFrameSize) + 4 else {
            // The client's HELLO max frame size cannot carry this envelope + signature + certificate.
            try? broker.nack(from: participant, consumer: consumer, messageID: delivery.messageID, delay: .seconds(3600))
            return false
        }
        try await output.write(begin)
        var position: UInt64 = 0
        func send(_ bytes: ArraySlice<UInt8>) async throws {
            // Skip what the client already has (resume), then cut into frames of at most chunkSize bytes.
            var slice = bytes
            if position + UInt64(slice.count) <= offset {
                position += UInt64(slice.count)
                return
            }
            if position < offset {
                slice = slice.dropFirst(Int(offset - position))
                position = offset
            }
            while !slice.isEmpty {
                let piece = slice.prefix(chunkSize)
                try await output.write(
                    .deliverChunk(
                        .init(
                            requestID: requestID, messageID: delivery.messageID,
                            offset: position, data: ByteBuffer(bytes: piece))))
                position += UInt64(piece.count)
                slice = slice.dropFirst(piece.count)
            }
        }
        switch delivery.payload {
        case .inline(let bytes):
            try await send(bytes[...])
        case .blob(let reference):
            let reader = try broker.openPayload(reference)
            while let piece = try reader.next(maxLength: chunkSize) {
                try await send(piece[...])
            }
        }
        try await output.write(.deliverEnd(.init(requestID: requestID, messageID: delivery.messageID)))
        try await broker.markDelivered(delivery)
        BrokerMetrics.delivered.increment()
        BrokerMetrics.deliveredBytes.increment(by: Int64(clamping: delivery.message.stored.envelope.payloadLength))
        return true
    }
}
