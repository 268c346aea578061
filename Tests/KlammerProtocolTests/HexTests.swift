import Testing
@testable import KlammerProtocol

/// The package's one hex coder (KlammerHex), seen through the protocol module's `Hex`.
@Suite struct HexTests {
    @Test func encodesLowercaseAndDecodesEitherCase() {
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.decode("000FA5ff") == [0x00, 0x0f, 0xa5, 0xff])
        #expect(Hex.decode("") == [])
    }

    @Test func refusesOddLengthsAndOtherCharacters() {
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("ab cd") == nil)
        #expect(Hex.decode("AB:CD", ignoring: [":"]) == [0xab, 0xcd])
        #expect(SHA256Digest(hex: String(repeating: "a", count: 63)) == nil)
    }
}
