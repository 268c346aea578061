import Foundation
import KlammerClient
import KlammerProtocol

extension BenchWorkloads {
    /// W4: one 1 KiB message to every recipient, repeated one round after another for the duration. Each recipient
    /// has its own connection with a push subscription and acknowledges (signed, SPEC.md §5.7) what it receives; a
    /// round's latency runs from the start of the send (signing included) to the broker's `acknowledged` receipt of
    /// the last recipient. A round that is not complete within 10 s counts as an error.
    func fanOut(_ recipients: FanOutRecipients) async throws -> BenchResult {
        let credentials = try ClientCredentials.load(sender)
        let (host, port) = try sender.brokerAddress()
        let ids = recipients.members.map(\.id)
        let payload = [UInt8](repeating: 0x44, count: 1024)
        let recorder = LatencyRecorder()
        let rounds = BenchBox<[String: FanOutRound]>([:])

        // Connect and subscribe every recipient (16 handshakes at a time).
        let connected = BenchBox<[KlammerClient]>([])
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for index in stride(from: worker, to: recipients.members.count, by: 16) {
                        let member = recipients.members[index]
                        do {
                            let client = try await KlammerClient.connect(host: host, port: port, credentials: member.credentials)
                            connected.withLock { $0.append(client) }
                        } catch { recorder.fail(error) }
                    }
                }
            }
        }
        let clients = connected.withLock { $0 }
        guard clients.count == recipients.members.count else {
            for client in clients { await client.close() }
            return finish(
                "W4", before: nil, recorder: recorder, seconds: 0,
                note: "only \(clients.count) of \(recipients.members.count) recipients could connect")
        }
        let consumers = Task {
            await withTaskGroup(of: Void.self) { group in
                for client in clients {
                    group.addTask { await Self.acknowledgeAll(on: client, rounds: rounds, recorder: recorder) }
                }
            }
        }

        let producer = try await KlammerClient.connect(host: host, port: port, credentials: credentials)
        let before = sample()
        let start = ContinuousClock.now
        let deadline = start + duration
        var index = 0
        while ContinuousClock.now < deadline {
            let clientMessageID = "bench-W4-\(index)-" + MessageID.random().hex
            index += 1
            let round = FanOutRound(recipients: ids.count)
            rounds.withLock { $0[clientMessageID] = round }
            let begin = ContinuousClock.now
            let error = await Self.sendFanOut(
                to: ids, payload: payload, clientMessageID: clientMessageID,
                credentials: credentials, on: producer)
            if let error {
                recorder.fail(error)
            } else {
                let timeout = Task {
                    try? await Task.sleep(for: .seconds(10))
                    round.timeOut()
                }
                if await round.wait() {
                    recorder.record(.now - begin, bytes: payload.count * ids.count)
                } else {
                    recorder.fail(KlammerClientError(.timeout, "round \(index): not every recipient acknowledged within 10 s"))
                }
                timeout.cancel()
            }
            _ = rounds.withLock { $0.removeValue(forKey: clientMessageID) }
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        var result = finish(
            "W4", before: before, recorder: recorder, seconds: seconds,
            note: "1 KiB to \(ids.count) recipients per round, rounds one after another; latency = send → all \(ids.count) acknowledged",
            extra: [
                "recipients": Double(ids.count), "acked_deliveries_per_s": Double(recorder.operations * ids.count) / max(seconds, 0.001)
            ])
        result.mibPerSecond = 0
        consumers.cancel()
        await producer.close()
        await withTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.close() } }
        }
        await consumers.value
        return result
    }

    /// Prepares (single signature) and sends one fan-out message; the error instead of a (typed) throw, kept out
    /// of the caller's untyped-throwing async body (see ``send(_:on:)``).
    @inline(never)
    static func sendFanOut(
        to recipients: [ParticipantID], payload: [UInt8], clientMessageID: String,
        credentials: ClientCredentials, on client: KlammerClient
    ) async -> (any Error)? {
        do {
            let prepared = try PreparedMessage.prepare(
                credentials: credentials, recipients: recipients, subject: "bench",
                payload: .bytes(payload), clientMessageID: clientMessageID)
            _ = try await client.send(prepared)
            return nil
        } catch {
            return error
        }
    }

    /// A recipient's loop: acknowledges every pushed message and counts it for its round.
    @inline(never)
    static func acknowledgeAll(on client: KlammerClient, rounds: BenchBox<[String: FanOutRound]>, recorder: LatencyRecorder) async {
        do {
            let subscription = try await client.subscribe(credits: 16)
            for try await message in subscription.messages {
                do {
                    _ = try await client.acknowledge(message)
                    rounds.withLock { $0[message.envelope.clientMessageID] }?.acknowledged()
                } catch {
                    recorder.fail(error)
                }
            }
        } catch {
            if !Task.isCancelled { recorder.fail(error) }
        }
    }
}
