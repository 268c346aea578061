import Foundation
import KlammerClient
import Synchronization

extension BenchWorkloads {
    /// W5: `idleConnections` authenticated idle connections (broker RSS per connection), then a handshake storm
    /// (16 concurrent connect + HELLO/WELCOME + close loops for the duration; latency per handshake).
    func connections() async throws -> BenchResult {
        let credentials = try ClientCredentials.load(recipient)
        let (host, port) = try recipient.brokerAddress()
        let rssBefore = brokerSample()?.rssBytes
        let recorder = LatencyRecorder()
        let opened = BenchBox<[KlammerClient]>([])
        let concurrency = 32
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var index = worker
                    while index < idleConnections {
                        do {
                            let client = try await KlammerClient.connect(host: host, port: port, credentials: credentials)
                            opened.withLock { $0.append(client) }
                        } catch { recorder.fail(error) }
                        index += concurrency
                    }
                }
            }
        }
        // Give the broker a moment to settle its per-connection buffers before sampling.
        try await Task.sleep(for: .milliseconds(500))
        let rssAfter = brokerSample()?.rssBytes
        let count = opened.withLock { $0.count }
        var extra: [String: Double] = ["idle_connections": Double(count)]
        if let rssBefore, let rssAfter, count > 0 {
            extra["rss_kib_per_conn"] = Double(rssAfter - rssBefore) / 1024 / Double(count)
        }
        let clients = opened.withLock { list in
            defer { list.removeAll() }; return list
        }
        await withTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: clients.count, by: 256) {
                let slice = clients[chunk..<min(clients.count, chunk + 256)]
                group.addTask { for client in slice { await client.close() } }
            }
        }

        let before = sample()
        let start = ContinuousClock.now
        let deadline = start + duration
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    while ContinuousClock.now < deadline {
                        let begin = ContinuousClock.now
                        do {
                            let client = try await KlammerClient.connect(host: host, port: port, credentials: credentials)
                            recorder.record(.now - begin)
                            await client.close()
                        } catch { recorder.fail(error) }
                    }
                }
            }
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        extra["handshakes_per_s"] = Double(recorder.operations) / max(seconds, 0.001)
        var result = finish(
            "W5", before: before, recorder: recorder, seconds: seconds,
            note: "\(count) idle mTLS connections, then a handshake storm (16 concurrent); latencies are handshakes", extra: extra)
        result.msgsPerSecond = 0
        result.brokerMicrosPerMessage = nil  // no messages; the CPU figures in cores stay
        result.clientMicrosPerMessage = nil
        return result
    }
}
