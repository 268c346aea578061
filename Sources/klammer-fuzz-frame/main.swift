// libFuzzer target for the frame decoder: `.ci/fuzz frame [libFuzzer options…]` (see README "Fuzzing").
// A normal build (without KLAMMER_FUZZING) only prints how to fuzz; to replay a crash file, pass it to the fuzz
// build, or put it under Tests/KlammerProtocolTests/FuzzRegressions/frame/ (FuzzTargetTests replays it).
import KlammerFuzzTargets

#if KLAMMER_FUZZING
import CFuzzerDriver
import Glibc

private func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.frame.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM names this file's top-level code the executable's entry point, so libFuzzer runs from here.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
#else
print("klammer-fuzz-frame: build with .ci/fuzz frame to fuzz the frame decoder")
#endif
