import Foundation
import Testing
@testable import KlammerCrypto

@Suite struct PrivateKeyTests {
    static let kinds: [KeyKind] = [.p256, .p384, .brainpoolP256r1, .brainpoolP384r1, .rsa(bits: 3072)]

    @Test(arguments: kinds)
    func generateSignVerify(kind: KeyKind) throws {
        let key = try PrivateKey.generate(kind)
        #expect(key.kind == kind)
        let pub = key.publicKey
        #expect(pub.kind == kind)
        #expect(pub.meetsKlammerMinimum)
        let data = Array("Bescheid Nr. 4711".utf8)
        let signature = try key.sign(data)
        #expect(pub.verify(signature: signature, for: data))
        #expect(pub.verify(signature: signature, for: Data(data)))
        var tampered = data
        tampered[0] ^= 1
        #expect(!pub.verify(signature: signature, for: tampered))
        #expect(!pub.verify(signature: Array(signature.dropLast()), for: data))
        #expect(!pub.verify(signature: [], for: data))
        // Another key of the same kind must not verify it.
        let other = try PrivateKey.generate(kind)
        #expect(!other.publicKey.verify(signature: signature, for: data))
        #expect(key.matches(pub))
        #expect(!other.matches(pub))
    }

    @Test func bitsPerKind() throws {
        #expect(try PrivateKey.generate(.p256).publicKey.bits == 256)
        #expect(try PrivateKey.generate(.brainpoolP384r1).publicKey.bits == 384)
    }

    @Test func pkcs8PEMAndDERRoundTrip() throws {
        let key = try PrivateKey.generate(.p256)
        let pem = key.pkcs8PEM
        #expect(pem.hasPrefix(PrivateKeyPEM.begin(PrivateKeyPEM.pkcs8Label) + "\n"))
        let again = try PrivateKey(pem: pem)
        #expect(again.publicKey == key.publicKey)
        let fromDER = try PrivateKey(der: key.pkcs8DER)
        #expect(fromDER.publicKey == key.publicKey)
        let signature = try again.sign([1, 2, 3])
        #expect(key.publicKey.verify(signature: signature, for: [1, 2, 3]))
    }

    @Test func encryptedPEMNeedsTheRightPassphrase() throws {
        let key = try PrivateKey.generate(.p384)
        let pem = try key.pkcs8PEM(passphrase: "Geheimnis-äöü")
        #expect(pem.hasPrefix(PrivateKeyPEM.begin(PrivateKeyPEM.encryptedPKCS8Label)))
        #expect(try PrivateKey(pem: pem, passphrase: "Geheimnis-äöü").publicKey == key.publicKey)
        let wrong = #expect(throws: CryptoError.self) { try PrivateKey(pem: pem, passphrase: "falsch") }
        #expect(wrong?.code == .wrongPassphrase)
        let missing = #expect(throws: CryptoError.self) { try PrivateKey(pem: pem) }
        #expect(missing?.code == .wrongPassphrase)
        #expect(missing?.message.contains("passphrase") == true)
    }

    @Test func loadFromFilePEMAndDER() throws {
        let dir = try TempDir()
        let key = try PrivateKey.generate(.p256)
        let pemPath = try dir.write("key.pem", key.pkcs8PEM)
        let derPath = try dir.write("key.der", bytes: key.pkcs8DER)
        #expect(try PrivateKey.load(fromFile: pemPath).publicKey == key.publicKey)
        #expect(try PrivateKey.load(fromFile: derPath).publicKey == key.publicKey)
        let missing = #expect(throws: CryptoError.self) { try PrivateKey.load(fromFile: dir.path("nope.pem")) }
        #expect(missing?.code == .fileNotFound)
        let garbage = try dir.write("garbage", "hello")
        let bad = #expect(throws: CryptoError.self) { try PrivateKey.load(fromFile: garbage) }
        #expect(bad?.code == .invalidEncoding)
    }

    @Test func weakAndUnsupportedKindsAreRefused() {
        let weak = #expect(throws: CryptoError.self) { try PrivateKey.generate(.rsa(bits: 2048)) }
        #expect(weak?.code == .weakKey)
        let other = #expect(throws: CryptoError.self) { try PrivateKey.generate(.other("ED25519")) }
        #expect(other?.code == .unsupportedAlgorithm)
        #expect(!KeyKind.rsa(bits: 2048).meetsKlammerMinimum)
        #expect(KeyKind.rsa(bits: 4096).meetsKlammerMinimum)
    }

    @Test func garbageIsInvalidEncoding() {
        let pem = #expect(throws: CryptoError.self) {
            try PrivateKey(
                pem: PrivateKeyPEM.begin(PrivateKeyPEM.pkcs8Label) + "\nAAAA\n" + PrivateKeyPEM.end(PrivateKeyPEM.pkcs8Label) + "\n")
        }
        #expect(pem?.code == .invalidEncoding)
        let der = #expect(throws: CryptoError.self) { try PrivateKey(der: [0x30, 0x00]) }
        #expect(der?.code == .invalidEncoding)
        let big = #expect(throws: CryptoError.self) { try PrivateKey(der: [UInt8](repeating: 0x30, count: (1 << 20) + 1)) }
        #expect(big?.code == .inputTooLarge)
    }

    @Test func publicKeySPKIAndPEMRoundTrip() throws {
        let pub = try PrivateKey.generate(.brainpoolP256r1).publicKey
        #expect(try PublicKey(spkiDER: pub.spkiDER) == pub)
        #expect(pub.pemString.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        #expect(try PublicKey(pem: pub.pemString) == pub)
    }
}
