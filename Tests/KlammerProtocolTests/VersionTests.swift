import Testing
import KlammerProtocol

@Test func protocolVersion() {
    #expect(klammerProtocolVersion == 1)
}

@Test func alpnIdentifier() {
    #expect(klammerALPN == "klammer/1")
}
