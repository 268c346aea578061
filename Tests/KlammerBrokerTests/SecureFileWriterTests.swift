import Foundation
import Testing
@testable import KlammerBroker
import KlammerTestSupport

/// `SecureFileWriter` (SPEC.md §8, §13): the temporary file cannot be hijacked, a mode that cannot be set fails the
/// write, and a directory others can read or write is refused for private files.
@Suite struct SecureFileWriterTests {
    static func contents(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    @Test func symlinkPlantedAtThePredictableTemporaryNameIsNotFollowed() throws {
        let tmp = try TemporaryDirectory()
        let victim = tmp.path("victim")
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        let target = tmp.path("key.pem")
        // The name the writer used to take (`<path>.tmp-<pid>`): someone who can write the directory plants a link.
        let planted = "\(target).tmp-\(getpid())"
        try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim)
        try SecureFileWriter.write(Array("secret".utf8), to: target, mode: 0o600)
        #expect(try Self.contents(victim) == "precious")
        #expect(try Self.contents(target) == "secret")
        #expect(!Self.isSymlink(target))
        #expect(Self.isSymlink(planted))
    }

    @Test func symlinkAtTheChosenTemporaryNameIsNeitherFollowedNorReused() throws {
        let tmp = try TemporaryDirectory()
        let victim = tmp.path("victim")
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        let target = tmp.path("key.pem")
        let planted = tmp.path("key.pem.tmp-planted")
        try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim)
        // The first name tried is the planted one (as if guessed); O_EXCL|O_NOFOLLOW refuses it and a new name is drawn.
        var names = [planted, tmp.path("key.pem.tmp-fresh")]
        try SecureFileWriter.write(
            Array("secret".utf8), to: target, mode: 0o600, overwrite: false,
            temporaryName: { _ in names.removeFirst() }, changeMode: fchmod)
        #expect(try Self.contents(victim) == "precious")
        #expect(try Self.contents(target) == "secret")
        #expect(Self.isSymlink(planted))
        #expect(!FileManager.default.fileExists(atPath: tmp.path("key.pem.tmp-fresh")))

        // Only planted names: the write fails instead of following one.
        #expect(throws: BrokerError.self) {
            try SecureFileWriter.write(
                Array("secret".utf8), to: tmp.path("other.pem"), mode: 0o600, overwrite: false,
                temporaryName: { _ in planted }, changeMode: fchmod)
        }
        #expect(try Self.contents(victim) == "precious")
        #expect(!FileManager.default.fileExists(atPath: tmp.path("other.pem")))
    }

    @Test func fchmodFailureFailsTheWriteAndLeavesNothing() throws {
        let tmp = try TemporaryDirectory()
        let target = tmp.path("key.pem")
        #expect {
            try SecureFileWriter.write(
                Array("secret".utf8), to: target, mode: 0o600, overwrite: false,
                temporaryName: SecureFileWriter.randomTemporaryName,
                changeMode: { _, _ in
                    errno = EPERM; return -1
                })
        } throws: { error in
            "\(error)".contains("cannot set mode 600")
        }
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
    }

    @Test func directoryOthersCanReadOrWriteIsRefusedForPrivateFiles() throws {
        let tmp = try TemporaryDirectory()
        let directory = tmp.path("out")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        for mode in [0o777, 0o755, 0o705, 0o770] as [mode_t] {
            #expect(chmod(directory, mode) == 0)
            #expect(throws: BrokerError.self, "mode \(String(mode, radix: 8)) accepted") {
                try SecureFileWriter.requirePrivateDirectory(directory)
            }
        }
        for mode in [0o700, 0o750] as [mode_t] {
            #expect(chmod(directory, mode) == 0)
            try SecureFileWriter.requirePrivateDirectory(directory)
        }
        let link = tmp.path("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory)
        #expect(throws: BrokerError.self) { try SecureFileWriter.requirePrivateDirectory(link) }
    }
}
