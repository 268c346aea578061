import Testing
@testable import KlammerCrypto

@Test func linksOpenSSL3() {
    #expect(OpenSSLVersion.number >= 0x3000_0000)
    #expect(OpenSSLVersion.text.hasPrefix("OpenSSL 3"))
}
