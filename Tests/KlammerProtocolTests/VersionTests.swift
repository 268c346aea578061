import Testing
import KlammerProtocol

@Test func protocolVersion() {
    #expect(klammerProtocolVersion == 1)
}
