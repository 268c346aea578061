// libFuzzer driver for the network-facing decoders: `.ci/fuzz frame|envelope|receipt [libFuzzer options…]`
// (README "Fuzzing"). The target comes from KLAMMER_FUZZ_TARGET, which .ci/fuzz sets. A normal build (without
// KLAMMER_FUZZING) only says how to fuzz; saved crash inputs go under Tests/KlammerProtocolTests/FuzzRegressions/,
// where FuzzTargetTests replays them.
import KlammerFuzzTargets

#if KLAMMER_FUZZING
    import CFuzzerDriver
    import Glibc

    private let target: FuzzTarget = {
        let name = getenv("KLAMMER_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set KLAMMER_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue)) (got '\(name)')")
        }
        return target
    }()

    private func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        target.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    // SwiftPM names this file's top-level code the executable's entry point, so libFuzzer runs from here.
    _ = target
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
#else
    print("klammer-fuzz: build and run with .ci/fuzz frame|envelope|receipt to fuzz a decoder")
#endif
