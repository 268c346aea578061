import Testing
@testable import KlammerCrypto

@Suite struct CryptoErrorTests {
    @Test func openSSLHelperDrainsTheErrorQueue() throws {
        // Provoke a real OpenSSL error, then check it is captured once and the queue is empty afterwards.
        #expect(throws: CryptoError.self) { try Certificate(der: [0x30, 0x03, 0x02, 0x01, 0x01]) }
        do {
            _ = try Certificate(der: [0x30, 0x03, 0x02, 0x01, 0x01])
        } catch let error as CryptoError {
            #expect(error.code == .invalidEncoding)
            #expect(!error.openSSLErrors.isEmpty)
            #expect(error.description.contains("invalid-encoding"))
        }
        #expect(CryptoError.drainOpenSSLErrors().isEmpty)
    }

    @Test func codesCompareAndDescribe() {
        #expect(CryptoError.Code.certificateRevoked == .certificateRevoked)
        #expect(CryptoError.Code.certificateRevoked != .certificateExpired)
        #expect(CryptoError.Code.weakKey.description == "weak-key")
    }
}
