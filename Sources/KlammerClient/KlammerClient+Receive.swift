import Foundation
import KlammerCrypto
public import KlammerProtocol

/// What a FETCH yields: the messages, then one `done`.
public enum FetchEvent: Sendable {
    /// One delivered message (check ``ReceivedMessage/isVerified`` before acting on it).
    case message(ReceivedMessage)
    /// FETCH_DONE: how many were delivered and whether more are waiting.
    case done(delivered: Int, moreAvailable: Bool)
}

/// A push subscription (SPEC.md §4.4.13): deliveries and/or the sender's receipt events.
public struct Subscription: Sendable {
    /// Delivered messages; taking one grants the broker one more credit, so at most the initial credits are buffered.
    public let messages: SubscriptionMessages
    /// Receipt events for messages this participant sent (newest 1024 buffered).
    public let receipts: AsyncStream<SignedReceipt>
}

/// The messages of a subscription, replenishing one credit per message taken.
public struct SubscriptionMessages: AsyncSequence, Sendable {
    /// See `AsyncSequence`.
    public typealias Element = ReceivedMessage
    let stream: AsyncThrowingStream<ReceivedMessage, any Error>
    let client: KlammerClient
    let requestID: UInt32

    /// See `AsyncSequence`.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), client: client, requestID: requestID)
    }

    /// See `AsyncIteratorProtocol`.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<ReceivedMessage, any Error>.AsyncIterator
        let client: KlammerClient
        let requestID: UInt32

        /// The next message; grants the broker one more credit for it.
        public mutating func next() async throws -> ReceivedMessage? {
            guard let message = try await base.next() else { return nil }
            try? await client.grantCredit(requestID: requestID, credits: 1)
            return message
        }
    }
}

extension KlammerClient {
    /// Pulls up to `max` messages (SPEC.md §4.4.12). The stream yields each message once its payload is complete,
    /// then ``FetchEvent/done(delivered:moreAvailable:)``.
    ///
    /// `resume` continues a delivery that a cut connection left half received (SPEC.md §4.8): the message id and the
    /// bytes already on disk, usually ``ReceiveOptions/resumePoint(in:)`` of the payload directory. The broker sends
    /// that message first from that offset (``ReceivedMessage/resumedAt``), or from 0 if it cannot resume it.
    /// Needs ``ReceiveOptions/PayloadStorage/directory(_:)`` storage.
    public func fetch(
        max: Int = 100, options: ReceiveOptions = ReceiveOptions(),
        resume: Frame.ResumePoint? = nil
    ) async throws(KlammerClientError) -> AsyncThrowingStream<FetchEvent, any Error> {
        _ = try requireWelcome()
        guard (1...Int(limits.maxFetchCount)).contains(max) else {
            throw KlammerClientError(.invalidArgument, "fetch count \(max) is outside 1…\(limits.maxFetchCount)")
        }
        if let resume, resume.offset > 0, case .memory = options.payloadStorage {
            throw KlammerClientError(
                .invalidArgument,
                "resuming message \(resume.messageID) at byte \(resume.offset) needs the part file: receive into a directory")
        }
        let id = try machine.startRequest(.fetch)
        // Bounded by `max` messages plus `done`; payloads beyond the memory limit go to files.
        let (stream, continuation) = AsyncThrowingStream<FetchEvent, any Error>.makeStream()
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination, let self { Task { await self.fetchAbandoned(id) } }
        }
        fetches[id] = FetchContext(continuation: continuation, options: options, resume: resume)
        do {
            try await write(.fetch(Frame.Fetch(requestID: id, maxMessages: UInt16(max), resume: resume)))
        } catch {
            fetches[id] = nil
            machine.finishRequest(id)
            throw error
        }
        return stream
    }

    /// Starts the connection's subscription (SPEC.md §4.4.13): pushed deliveries with `credits` initial credits (one
    /// more is granted per message taken) and, with `receipts`, receipt events for messages this participant sent.
    public func subscribe(
        credits: UInt32 = 16, deliveries: Bool = true, receipts: Bool = false,
        options: ReceiveOptions = ReceiveOptions()
    ) async throws(KlammerClientError) -> Subscription {
        _ = try requireWelcome()
        var topics: Frame.Subscribe.Topics = []
        if deliveries { topics.insert(.deliveries) }
        if receipts { topics.insert(.receipts) }
        guard !topics.isEmpty else {
            throw KlammerClientError(.invalidArgument, "subscribe to deliveries, receipts or both")
        }
        let id = try machine.startRequest(.subscription)
        let (messages, messagesContinuation) = AsyncThrowingStream<ReceivedMessage, any Error>.makeStream()
        let (receiptStream, receiptsContinuation) = AsyncStream<SignedReceipt>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        subscription = SubscriptionContext(
            requestID: id, messages: deliveries ? messagesContinuation : nil,
            receipts: receipts ? receiptsContinuation : nil, options: options)
        if !deliveries { messagesContinuation.finish() }
        if !receipts { receiptsContinuation.finish() }
        do {
            try await write(.subscribe(Frame.Subscribe(requestID: id, topics: topics, credits: deliveries ? credits : 0)))
        } catch {
            subscription = nil
            machine.finishRequest(id)
            throw error
        }
        return Subscription(messages: SubscriptionMessages(stream: messages, client: self, requestID: id), receipts: receiptStream)
    }

    /// Grants more push credits to the subscription.
    public func grantCredit(requestID: UInt32, credits: UInt32) async throws(KlammerClientError) {
        guard credits > 0, let sub = subscription, sub.requestID == requestID, machine.phase == .open else { return }
        try await write(.credit(Frame.Credit(requestID: requestID, credits: credits)))
    }

    /// Acknowledges a verified message (SPEC.md §5.7): signs the acknowledgement statement with this participant's
    /// key and returns the broker's `acknowledged` receipt, which carries the statement and signature. Must be called
    /// on the connection that received the message (the broker leases it to that connection).
    public func acknowledge(_ message: ReceivedMessage) async throws(KlammerClientError) -> SignedReceipt {
        if let error = message.verificationError {
            throw KlammerClientError(
                .verificationFailed, "message \(message.messageID) did not verify, so it must not be acknowledged: \(error.message)")
        }
        let welcome = try requireWelcome()
        let statement = AcknowledgementStatement(
            messageID: message.messageID, envelopeDigest: MessageVerifier.digest(of: message.envelope),
            sender: message.envelope.sender, recipient: welcome.participant,
            timestampMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        let signature: [UInt8]
        do {
            signature = try CMS.signDetached(statement.canonicalBytes, certificate: credentials.certificate, key: credentials.privateKey)
        } catch {
            throw KlammerClientError(.invalidProfile, "cannot sign the acknowledgement: \(error)")
        }
        let id = try machine.startRequest(.acknowledge)
        let receipt: SignedReceipt
        do {
            receipt = try await withCheckedThrowingContinuation { (c: CheckedContinuation<SignedReceipt, any Error>) in
                acknowledgements[id] = c
                Task { await self.sendOrFail(.ack(Frame.Ack(requestID: id, statement: statement, signature: signature)), requestID: id) }
            }
        } catch let e as KlammerClientError {
            throw e
        } catch {
            throw KlammerClientError(.connectionFailed, "\(error)")
        }
        guard receipt.receipt.kind == .acknowledged, receipt.receipt.messageID == message.messageID else {
            throw KlammerClientError(
                .protocolViolation, "the broker answered the ACK with a \(receipt.receipt.kind) receipt for \(receipt.receipt.messageID)")
        }
        return receipt
    }

    /// Asks the broker to deliver the message again later (SPEC.md §4.4.19). NACK has no success answer; a later
    /// broker ERROR for it is only logged.
    public func nack(_ messageID: MessageID, retryAfterMillis: UInt32 = 0) async throws(KlammerClientError) {
        let id = try machine.oneShotRequestID()
        try await write(.nack(Frame.Nack(requestID: id, messageID: messageID, retryAfterMillis: retryAfterMillis)))
    }

    /// The routing slip of a message this participant sent or received: all its receipts in issue order.
    public func status(_ messageID: MessageID) async throws(KlammerClientError) -> [SignedReceipt] {
        _ = try requireWelcome()
        let id = try machine.startRequest(.status)
        do {
            return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[SignedReceipt], any Error>) in
                statuses[id] = StatusContext(continuation: c)
                Task { await self.sendOrFail(.statusRequest(Frame.StatusRequest(requestID: id, messageID: messageID)), requestID: id) }
            }
        } catch let e as KlammerClientError {
            throw e
        } catch {
            throw KlammerClientError(.connectionFailed, "\(error)")
        }
    }

    /// Writes a request frame; if that fails, fails the request.
    func sendOrFail(_ frame: Frame, requestID id: UInt32) async {
        do { try await write(frame) } catch {
            machine.finishRequest(id)
            failRequest(id, error)
        }
    }
}

extension KlammerClient {
    /// Looks up `participant`'s current encryption certificates in the broker's directory (SPEC.md §5.11) and verifies
    /// the broker's signature with the broker's TLS certificate before returning; every listed certificate is checked
    /// against the client's own CA bundle and CRLs (``DirectoryEntry/verify(statement:signature:broker:participant:trustStore:at:)``).
    ///
    /// - Throws: ``KlammerClientError`` `brokerRefused` with `UNKNOWN_PARTICIPANT` for an unregistered id,
    ///   `verificationFailed` if the answer's signature, participant, validity or certificates do not check out.
    public func directory(for participant: ParticipantID) async throws(KlammerClientError) -> DirectoryEntry {
        _ = try requireWelcome()
        guard let broker = brokerCertificate else {
            throw KlammerClientError(.verificationFailed, "no broker certificate to verify the directory answer with")
        }
        let id = try machine.startRequest(.directory)
        let answer: Frame.DirectoryAnswer
        do {
            answer = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Frame.DirectoryAnswer, any Error>) in
                directoryLookups[id] = c
                Task {
                    await self.sendOrFail(.directoryLookup(Frame.DirectoryLookup(requestID: id, participant: participant)), requestID: id)
                }
            }
        } catch let e as KlammerClientError {
            throw e
        } catch {
            throw KlammerClientError(.connectionFailed, "\(error)")
        }
        return try DirectoryEntry.verify(
            statement: answer.statement, signature: answer.signature, broker: broker,
            participant: participant, trustStore: credentials.trustStore)
    }
}
