import Foundation

/// CPU time of the bench process itself (all its threads: connections, signing, TLS; not the broker, which is a
/// child and is not counted in RUSAGE_SELF), so the client's cost per message is reported next to the broker's.
struct ClientCPUSample {
    var cpuSeconds: Double
    var time: ContinuousClock.Instant

    static func take() -> ClientCPUSample {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return ClientCPUSample(cpuSeconds: seconds(usage.ru_utime) + seconds(usage.ru_stime), time: .now)
    }

    /// CPU seconds used since `earlier`, and cores (1.0 = one core busy) over the wall time between the two samples.
    func since(_ earlier: ClientCPUSample) -> (seconds: Double, cores: Double) {
        let cpu = cpuSeconds - earlier.cpuSeconds
        let wall = (time - earlier.time) / .seconds(1)
        return (cpu, wall > 0 ? cpu / wall : 0)
    }
}
