import Foundation

/// Resident and peak resident memory of a process, from Linux /proc (`nil` elsewhere or when unreadable).
public enum ProcessMemory {
    /// The resident set size (`VmRSS`) in bytes of `pid`, or of this process when `nil`.
    public static func resident(of pid: Int32? = nil) -> Int? { field("VmRSS", pid: pid) }

    /// The peak resident set size (`VmHWM`) in bytes of `pid`, or of this process when `nil`.
    public static func peak(of pid: Int32? = nil) -> Int? { field("VmHWM", pid: pid) }

    /// This process's peak resident set size in bytes; with `reset`, first sets the peak back to the current
    /// resident size (`echo 5 > /proc/self/clear_refs`) so that the next call measures only what came after.
    public static func peak(reset: Bool) -> Int? {
        if reset {
            guard (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil else { return nil }
        }
        return field("VmHWM", pid: nil)
    }

    /// The `name:` line of /proc/PID/status (`VmRSS:\t  1234 kB`), in bytes.
    private static func field(_ name: String, pid: Int32?) -> Int? {
        let path = "/proc/\(pid.map { String($0) } ?? "self")/status"
        guard let status = try? String(contentsOfFile: path, encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
            let kib = Int(line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        else { return nil }
        return kib * 1024
    }
}
