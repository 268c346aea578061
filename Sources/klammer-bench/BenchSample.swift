/// CPU readings taken at the start of a workload's timed part: the broker's (/proc, nil when the bench did not start
/// it) and the bench process's own (getrusage).
struct BenchSample {
    var broker: ProcessSample?
    var client: ClientCPUSample
}
