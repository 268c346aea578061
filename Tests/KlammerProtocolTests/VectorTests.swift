import Foundation
import NIOCore
import Testing
@testable import KlammerProtocol

@Suite struct VectorTests {
    @Test(arguments: Fixtures.frames.map(\.name))
    func frameVectorDecodesAndReencodesExactly(name: String) throws {
        let expected = Fixtures.frames.first { $0.name == name }!.frame
        let bytes = try #require(Hex.decode(Vectors.hex(name)))
        let decoded = try FrameParser.parseComplete(bytes)
        #expect(decoded == expected)
        #expect(decoded.encodedBytes == bytes)
        #expect(expected.encodedBytes == bytes)
    }

    @Test func everyFrameTypeHasAVector() {
        let covered = Set(Fixtures.frames.map(\.frame.type))
        let decodable = Set(FrameType.allCases.filter { !$0.isReserved })
        #expect(covered == decodable)
    }

    @Test func canonicalVectors() throws {
        for (name, bytes) in Fixtures.canonical {
            #expect(Hex.encode(bytes) == Vectors.hex(name), "\(name)")
        }
        let env = try Envelope(parsingCanonical: Hex.decode(Vectors.hex("envelope"))!)
        #expect(env == Fixtures.envelope)
        #expect(env.canonicalBytes == Hex.decode(Vectors.hex("envelope"))!)
        for name in ["receipt_accepted", "receipt_acknowledged", "receipt_rejected"] {
            let bytes = Hex.decode(Vectors.hex(name))!
            #expect(try Receipt(parsingCanonical: bytes).canonicalBytes == bytes)
        }
        let ack = Hex.decode(Vectors.hex("ack_statement"))!
        #expect(try AcknowledgementStatement(parsingCanonical: ack) == Fixtures.ackStatement)
        let root = Hex.decode(Vectors.hex("batch_root"))!
        #expect(try BatchRootStatement(parsingCanonical: root).canonicalBytes == root)
        let signed = Hex.decode(Vectors.hex("signed_receipt_acknowledged"))!
        #expect(try SignedReceipt(parsing: signed) == Fixtures.signedAcknowledged)
        let directory = Hex.decode(Vectors.hex("directory_statement"))!
        #expect(try DirectoryStatement(parsingCanonical: directory) == Fixtures.directoryStatement)
    }

    /// SPEC.md carries the same vectors as `Vectors.all`, marked `<!-- vector: name -->` + a hex block.
    @Test func specMatchesTests() throws {
        let inSpec = try Self.specVectors()
        for (name, hex) in Vectors.all {
            #expect(inSpec[name] == hex, "SPEC.md vector '\(name)' differs from the tests")
        }
        #expect(Set(inSpec.keys) == Set(Vectors.all.map(\.name)))
    }

    /// The vectors in SPEC.md by name (lower-case hex): each `<!-- vector: name -->` line followed by a ```hex block.
    static func specVectors() throws -> [String: String] {
        let specURL = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SPEC.md")
        let spec = try String(contentsOf: specURL, encoding: .utf8)
        var inSpec: [String: String] = [:]
        let lines = spec.components(separatedBy: "\n")
        var i = 0
        while i < lines.count {
            let line = lines[i].trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("<!-- vector: "), line.hasSuffix(" -->") {
                let name = String(line.dropFirst("<!-- vector: ".count).dropLast(" -->".count))
                i += 1
                #expect(lines[i].trimmingCharacters(in: .whitespaces) == "```hex", "vector \(name) needs a ```hex block")
                var hex = ""
                i += 1
                while i < lines.count, lines[i].trimmingCharacters(in: .whitespaces) != "```" {
                    hex += lines[i].filter { !$0.isWhitespace }
                    i += 1
                }
                #expect(inSpec[name] == nil, "duplicate vector \(name) in SPEC.md")
                inSpec[name] = hex.lowercased()
            }
            i += 1
        }
        return inSpec
    }
}
