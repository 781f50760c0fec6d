import Foundation

/// Monotonic wall clock in seconds.
public func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// CPU seconds used by other processes while a region ran (the machines are shared):
/// machine busy time from /proc/stat minus this process's own CPU time.
struct LoadProbe {
    private var busy0 = 0.0, own0 = 0.0, wall0 = 0.0

    static func machineBusySeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first else { return .nan }
        let v = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
        guard v.count == 8 else { return .nan }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (v.reduce(0, +) - v[3] - v[4]) / ticks
    }

    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    }

    mutating func start() {
        busy0 = LoadProbe.machineBusySeconds(); own0 = LoadProbe.ownCPUSeconds(); wall0 = monotonicSeconds()
    }

    /// (wall seconds, foreign cores) since start.
    func stop() -> (wall: Double, foreign: Double) {
        let wall = monotonicSeconds() - wall0
        let foreign = ((LoadProbe.machineBusySeconds() - busy0) - (LoadProbe.ownCPUSeconds() - own0)) / wall
        return (wall, max(0, foreign))
    }
}
