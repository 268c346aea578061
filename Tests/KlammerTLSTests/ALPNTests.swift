import Testing
import KlammerTLS

@Test func alpnIdentifier() {
    #expect(klammerALPN == "klammer/1")
}
