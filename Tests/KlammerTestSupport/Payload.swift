/// `count` bytes of a repeatable pattern (byte i is `i * 31 + seed`), so that tests can compare what arrived with
/// what was sent without keeping a copy.
public func payloadBytes(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}
