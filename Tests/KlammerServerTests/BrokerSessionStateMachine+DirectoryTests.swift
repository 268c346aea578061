import Foundation
import KlammerProtocol
import KlammerServer
import Testing

/// DIRECTORY_LOOKUP in the session: a request-lane job, answered once, duplicate ids refused, refused while draining.
@Suite struct BrokerSessionDirectoryTests {
    typealias Machine = BrokerSessionStateMachine

    @Test func lookupRunsOnTheRequestLaneAndIsAnsweredOnce() throws {
        var (m, _, dir) = try BrokerSessionStateMachineTests.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let looked = try ParticipantID("ags:09162000")
        let actions = m.received(.frame(.directoryLookup(.init(requestID: 7, participant: looked))), now: 1)
        guard case .request(.directory(7, looked)) = actions.first, actions.count == 1 else {
            Issue.record("DIRECTORY_LOOKUP did not become a request-lane job: \(actions)")
            return
        }
        let statement = try DirectoryStatement(
            participant: looked, issuedAtMillis: 1, validUntilMillis: 2,
            broker: ParticipantID("broker:test"), certificates: [])
        let answer = Frame.DirectoryAnswer(requestID: 7, statement: statement, signature: [0x30, 0x00])
        let written = m.requestResult(.directory(answer: answer), now: 3)
        guard case .write(.directoryAnswer(let sent)) = written.first else {
            Issue.record("no DIRECTORY_ANSWER written: \(written)")
            return
        }
        #expect(sent == answer)
        // A second result for the same id is not written again.
        #expect(m.requestResult(.directory(answer: answer), now: 4).isEmpty)
    }

    @Test func duplicateRequestIDClosesTheConnection() throws {
        var (m, _, dir) = try BrokerSessionStateMachineTests.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let looked = try ParticipantID("ags:09162000")
        _ = m.received(.frame(.directoryLookup(.init(requestID: 7, participant: looked))), now: 1)
        let duplicate = m.received(.frame(.directoryLookup(.init(requestID: 7, participant: looked))), now: 2)
        #expect(BrokerSessionStateMachineTests.failure(duplicate)?.code == .duplicateRequestID)
    }

    @Test func failedLookupIsAnErrorForTheRequestOnly() throws {
        var (m, _, dir) = try BrokerSessionStateMachineTests.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = m.received(.frame(.directoryLookup(.init(requestID: 9, participant: try ParticipantID("ags:99999999")))), now: 1)
        let actions = m.requestResult(.failed(requestID: 9, error: ProtocolError(.unknownParticipant, "not registered")), now: 2)
        guard case .write(.error(let error)) = actions.first else {
            Issue.record("no ERROR: \(actions)")
            return
        }
        #expect(error.requestID == 9 && error.code == .unknownParticipant)
        #expect(m.phase == .open)
    }
}
