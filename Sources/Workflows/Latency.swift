import Foundation
import Networks
import Quantization
import Runs
import Spaces
import TensorCore

/// The runtime a latency table times: Pare's own float engine, or the folded graph on oneDNN
/// (NHWC, what a deployment runs).
public enum LatencyRuntime: String, CaseIterable, Sendable {
    case pare, onednn
}

/// `pare latency`: every layer signature of a space timed on this machine into a table,
/// its scale and per-pass overhead fitted on whole architectures, its predictions validated.
public struct LatencyRequest: Sendable {
    public var space: String
    /// Output file (nil: runs/SPACE[.int8|.onednn].latency.json).
    public var out: String?
    public var batch = 1
    /// Timed repetitions per measurement (the median is kept).
    public var repeats = 30
    /// Architectures that fit the scale and overhead, and random ones that validate the table.
    public var calibrate = 10
    public var validate = 20
    public var seed: UInt64 = 0
    /// nil: oneDNN with `int8`, else Pare's engine.
    public var runtime: LatencyRuntime?
    public var int8 = false
    public init(space: String) { self.space = space }

    /// Validation errors above these deserve a warning.
    public static let warnMean = 0.15, warnMax = 0.35
}

/// The table written, and how well it predicted the validation architectures.
public struct LatencyResult: Sendable {
    public struct Prediction: Sendable {
        public var architecture: Architecture
        public var predictedMs: Double
        public var measuredMs: Double
        public var relativeError: Double { (predictedMs - measuredMs) / measuredMs }
    }
    public var path: String
    public var table: LatencyTable
    public var runtime: LatencyRuntime
    public var seconds: Double
    public var validation: [Prediction]
    /// Mean and largest |relative error| over `validation` (nil without validation).
    public var meanError: Double? { validation.isEmpty ? nil : validation.map { abs($0.relativeError) }.reduce(0, +) / Double(validation.count) }
    public var maxError: Double? { validation.map { abs($0.relativeError) }.max() }
    public var predictsPoorly: Bool { (meanError ?? 0) > LatencyRequest.warnMean || (maxError ?? 0) > LatencyRequest.warnMax }
}

public func measureLatency(_ r: LatencyRequest, engine: Engine, log: @escaping Log) throws -> LatencyResult {
    let runtime = r.runtime ?? (r.int8 ? .onednn : .pare)
    guard !(r.int8 && runtime == .pare) else { throw UserError("--int8 runs on oneDNN; drop --engine pare") }
    guard r.batch >= 1, r.repeats >= 1, r.validate >= 0, r.calibrate >= 0 else {
        throw UserError("--batch and --repeats must be at least 1, --validate and --calibrate at least 0")
    }
    let s = try loadSpace(r.space)
    let path = r.out ?? "runs/\(s.name)\(r.int8 ? ".int8" : runtime == .onednn ? ".onednn" : "").latency.json"
    let net = Supernet(space: s, rng: RNG(seed: r.seed), engine: engine)
    let profiler: any LatencyMeasuring = runtime == .onednn
        ? OneDNNLatencyProfiler(network: net, batch: r.batch, repeats: r.repeats, int8: r.int8)
        : LatencyProfiler(network: net, batch: r.batch, repeats: r.repeats)
    let machine = "\(ProcessInfo.processInfo.hostName), \(ProcessInfo.processInfo.activeProcessorCount) cores, OpenBLAS \(BLAS.coreName)"
    let start = Date()
    var table = profiler.table(machine: machine) { done, total in
        if done % 50 == 0 || done == total { log("measured \(done)/\(total) signatures") }
    }
    // Fit scale and overhead on other architectures than the validation ones, spread
    // over the MACs range so that small networks pin the per-pass overhead down.
    let fitRNG = RNG(seed: r.seed &+ 2)
    let lo = s.cost(s.smallest).macs, hi = s.cost(s.largest).macs
    var sums: [Double] = [], measured: [Double] = []
    for i in 0..<r.calibrate {
        let bin = Double(hi - lo) / Double(max(r.calibrate - 1, 1))
        let a = i == 0 ? s.smallest : i == r.calibrate - 1 ? s.largest
            : s.randomArchitecture(nearMACs: lo + Int(bin * Double(i)), tolerance: Int(bin / 2), rng: fitRNG)
        sums.append(table.sumMs(a)!)
        measured.append(profiler.measure(a))
    }
    (table.scale, table.overheadMs) = LatencyTable.fit(summed: sums, measured: measured)
    try AtomicFile.writeJSON(encodable: table, to: path)
    let seconds = Date().timeIntervalSince(start)
    let rng = RNG(seed: r.seed &+ 1)
    var predictions: [LatencyResult.Prediction] = []
    for _ in 0..<r.validate {
        let a = s.randomArchitecture(rng)
        predictions.append(.init(architecture: a, predictedMs: table.predictMs(a)!, measuredMs: profiler.measure(a)))
    }
    let result = LatencyResult(path: path, table: table, runtime: runtime, seconds: seconds, validation: predictions)
    if let mean = result.meanError, let max = result.maxError {
        try AtomicFile.writeJSON(["table": path, "mean_abs_relative_error": mean, "max_abs_relative_error": max,
                                  "architectures": predictions.map { ["arch": $0.architecture.description, "predicted_ms": $0.predictedMs, "measured_ms": $0.measuredMs] }],
                                 to: path.replacingOccurrences(of: ".json", with: "") + ".validation.json")
    }
    return result
}
