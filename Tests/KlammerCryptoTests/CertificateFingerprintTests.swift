import Foundation
import Testing
@testable import KlammerCrypto

@Suite struct CertificateFingerprintTests {
    let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    @Test func parsesLowercaseUppercaseAndColonSeparatedHex() throws {
        let a = try #require(CertificateFingerprint(hex: hex))
        #expect(a.hex == hex)
        #expect(a.bytes.count == 32)
        #expect(a.bytes[1] == 0x11)
        let upperColons = stride(from: 0, to: 64, by: 2).map { i in
            String(hex.uppercased()[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 2)])
        }.joined(separator: ":")
        #expect(CertificateFingerprint(hex: upperColons) == a)
    }

    @Test func rejectsWrongLengthsAndNonHex() {
        #expect(CertificateFingerprint(hex: String(hex.dropLast(2))) == nil)
        #expect(CertificateFingerprint(hex: hex + "00") == nil)
        #expect(CertificateFingerprint(hex: "g" + hex.dropFirst()) == nil)
        #expect(CertificateFingerprint(hex: "") == nil)
    }

    @Test func codableAsHexString() throws {
        let fp = try #require(CertificateFingerprint(hex: hex))
        let json = try JSONEncoder().encode([fp])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(hex)\"]")
        #expect(try JSONDecoder().decode([CertificateFingerprint].self, from: json) == [fp])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([CertificateFingerprint].self, from: Data("[\"abc\"]".utf8)) }
    }
}
