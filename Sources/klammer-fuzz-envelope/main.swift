// libFuzzer target for the envelope decoder: `.ci/fuzz envelope [libFuzzer options…]` (see README "Fuzzing").
// A normal build (without KLAMMER_FUZZING) only prints how to fuzz; to replay a crash file, pass it to the fuzz
// build, or put it under Tests/KlammerProtocolTests/FuzzRegressions/envelope/ (FuzzTargetTests replays it).
import KlammerFuzzTargets

#if KLAMMER_FUZZING
import CFuzzerDriver
import Glibc

private func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.envelope.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM names this file's top-level code the executable's entry point, so libFuzzer runs from here.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
#else
print("klammer-fuzz-envelope: build with .ci/fuzz envelope to fuzz the envelope decoder")
#endif
