import Testing
import KlammerStore

@Test func formatVersion() {
    #expect(KlammerStoreInfo.formatVersion == 1)
}
