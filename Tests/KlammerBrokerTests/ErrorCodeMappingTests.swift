import Testing
@testable import KlammerBroker
import KlammerProtocol
import KlammerStore

/// The codes a client cannot provoke from outside (SPEC.md §6: STORAGE_FULL, STORAGE_UNAVAILABLE, INTERNAL_ERROR):
/// how the broker maps store failures to them (ErrorCodeProcessTests covers every provokable code end to end).
@Suite struct ErrorCodeMappingTests {
    @Test(arguments: [
        (StoreError.Code.diskFull, ErrorCode.storageFull),
        (.writePathPoisoned, .storageUnavailable),
        (.closed, .storageUnavailable),
        (.io, .internalError),
        (.corrupt, .internalError),
        (.tooLarge, .messageTooLarge),
        (.leaseNotHeld, .unknownMessage)
    ])
    func storeFailuresMapToRetryableCodesWhereRetryingHelps(store: StoreError.Code, expected: ErrorCode) {
        let error = Broker.storageRefusal(StoreError(store, "test"), doing: "testing")
        #expect(error.code == expected)
        #expect(error.code.isRetryable == [.storageFull, .storageUnavailable, .internalError].contains(expected))
        #expect(error.message.contains("testing"))
    }

    @Test func unexpectedErrorsAreInternal() {
        struct Odd: Error {}
        #expect(Broker.storageRefusal(Odd(), doing: "x").code == .internalError)
        #expect(Broker.storageRefusal(ProtocolError(.digestMismatch, "kept"), doing: "x").code == .digestMismatch)
    }
}
