import Testing
@testable import KlammerStore

@Suite struct CRC32CTests {
    /// The hardware path (when this CPU has it) and the table path agree on every alignment, length and split.
    @Test func hardwareAndTablePathsAgree() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 4095, 65_536] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<start + len])
                    let table = CRC32C._updateTables(0, slice)
                    #expect(CRC32C._update(0, slice) == table)
                    let seeded = CRC32C._updateTables(0xDEAD_BEEF, slice)
                    #expect(CRC32C._update(0xDEAD_BEEF, slice) == seeded)
                }
            }
        }
    }

    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func slicingMatchesBytewiseAtAllAlignmentsAndSplits() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        func bytewise(_ d: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in d {
                c ^= UInt32(b)
                for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            }
            return ~c
        }
        for start in 0..<9 {
            for len in [0, 1, 7, 8, 9, 63, 500] {
                let s = data[start..<start + len]
                #expect(CRC32C.checksum(Array(s)) == bytewise(s))
                // Incremental update equals one-shot.
                let mid = len / 3
                let a = Array(s.prefix(mid)).withUnsafeBytes { CRC32C.update(0, $0) }
                let b = Array(s.dropFirst(mid)).withUnsafeBytes { CRC32C.update(a, $0) }
                #expect(b == bytewise(s))
            }
        }
    }
}

@Suite struct DedupeHashTests {
    @Test func directHashEqualsHashOfEncodedKey() {
        for (s, c) in [("alice", "1"), ("", ""), ("sénder", String(repeating: "x", count: 300))] {
            var w = ByteWriter()
            w.str16(s)
            w.str16(c)
            let viaBytes = w.bytes.withUnsafeBytes { RecordBody.dedupeHash($0) }
            #expect(RecordBody.dedupeHash(sender: s, clientMessageID: c) == viaBytes)
        }
    }
}
