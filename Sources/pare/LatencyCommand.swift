import ArgumentParser
import Foundation
import Runs
import Spaces
import Networks
import Quantization
import TensorCore

struct LatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Measure every layer signature of a space on this machine into a latency table; validate its predictions.",
        discussion: """
        A signature is a stem, one choice block at given operator / input / middle / output widths / resolution / \
        stride, or the head. Predicted latency of an architecture = the sum over its signatures. `pare search \
        --max-latency 1.2ms --latency-table FILE` uses the table as a hard budget.
        """)

    @Option(help: "Search-space file, or 'reference'.") var space: String
    @Option(help: "Output file (default runs/SPACE.latency.json).") var out: String?
    @Option(help: "Images per forward pass (default 1: single-image latency).") var batch = 1
    @Option(help: "Timed repetitions per measurement; the median is kept (default 30).") var repeats = 30
    @Option(help: "Architectures measured end to end to fit the table's scale factor and per-pass overhead, spread from the smallest to the largest (default 10).") var calibrate = 10
    @Option(help: "Other random architectures to compare predicted with measured end-to-end latency (default 20).") var validate = 20
    @Option(help: "Random seed for the validation architectures.") var seed: UInt64 = 0
    @Option(help: "Engine threads (default: all cores).") var threads: Int?
    @Flag(help: "Time the int8 model on oneDNN (pare quantize's deployment path) instead of Pare's float engine; for pare search --max-latency ... --int8.")
    var int8 = false
    @Option(name: .customLong("engine"), help: "Float runtime to time: pare (Pare's own engine, default) or onednn (the folded graph on oneDNN, NHWC: what a deployment would run; much faster at batch 1).")
    var runtime: String?

    /// Validation errors above these are reported as a warning.
    static let warnMean = 0.15, warnMax = 0.35

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: threads)
            let runtime = self.runtime ?? (int8 ? "onednn" : "pare")
            guard runtime == "pare" || runtime == "onednn" else { throw UserError("--engine: '\(quoted(runtime))', expected pare or onednn") }
            guard !(int8 && runtime == "pare") else { throw UserError("--int8 runs on oneDNN; drop --engine pare") }
            guard batch >= 1, repeats >= 1, validate >= 0, calibrate >= 0 else {
                throw UserError("--batch and --repeats must be at least 1, --validate and --calibrate at least 0")
            }
            let s = try loadSpace(space)
            let path = out ?? "runs/\(s.name)\(int8 ? ".int8" : runtime == "onednn" ? ".onednn" : "").latency.json"
            let net = Supernet(space: s, rng: RNG(seed: seed), engine: engine)
            let profiler: any LatencyMeasuring = int8 || runtime == "onednn"
                ? OneDNNLatencyProfiler(network: net, batch: batch, repeats: repeats, int8: int8)
                : LatencyProfiler(network: net, batch: batch, repeats: repeats)
            let machine = "\(ProcessInfo.processInfo.hostName), \(ProcessInfo.processInfo.activeProcessorCount) cores, OpenBLAS \(BLAS.coreName)"
            let progress = Progress(total: 1, log: logLine)
            let start = Date()
            var table = profiler.table(machine: machine) { done, total in
                if done % 50 == 0 || done == total { logLine("measured \(done)/\(total) signatures") }
            }
            progress.finish()
            // Fit scale and overhead on other architectures than the validation ones, spread
            // over the MACs range so that small networks pin the per-pass overhead down.
            let fitRNG = RNG(seed: seed &+ 2)
            let lo = s.cost(s.smallest).macs, hi = s.cost(s.largest).macs
            var sums: [Double] = [], measured: [Double] = []
            for i in 0..<calibrate {
                let bin = Double(hi - lo) / Double(max(calibrate - 1, 1))
                let a = i == 0 ? s.smallest : i == calibrate - 1 ? s.largest
                    : s.randomArchitecture(nearMACs: lo + Int(bin * Double(i)), tolerance: Int(bin / 2), rng: fitRNG)
                sums.append(table.sumMs(a)!)
                measured.append(profiler.measure(a))
            }
            (table.scale, table.overheadMs) = LatencyTable.fit(summed: sums, measured: measured)
            try AtomicFile.writeJSON(encodable: table, to: path)
            print(String(format: "%d signatures of %@ measured %@in %.1f s (batch %d, median of %d), scale %.3f, overhead %.3f ms per pass, fitted on %d architectures -> %@",
                         table.entries.count, s.name, int8 ? "in int8 on oneDNN " : runtime == "onednn" ? "in float on oneDNN " : "", Date().timeIntervalSince(start), batch, repeats, table.scale,
                         table.overheadMs, calibrate, path))
            guard validate > 0 else { return }
            let rng = RNG(seed: seed &+ 1)
            var rows: [[String: Any]] = []
            var errors: [Double] = []
            print("  predicted  measured   error  architecture")
            for _ in 0..<validate {
                let a = s.randomArchitecture(rng)
                let predicted = table.predictMs(a)!
                let measured = profiler.measure(a)
                let err = (predicted - measured) / measured
                errors.append(abs(err))
                rows.append(["arch": a.description, "predicted_ms": predicted, "measured_ms": measured])
                print(String(format: "  %7.3f ms %7.3f ms %+6.1f%%  %@", predicted, measured, err * 100, a.description))
            }
            let mean = errors.reduce(0, +) / Double(errors.count)
            print(String(format: "mean |error| %.1f%%, max %.1f%% over %d random architectures", mean * 100, errors.max()! * 100, errors.count))
            if mean > LatencyCommand.warnMean || errors.max()! > LatencyCommand.warnMax {
                print(String(format: "warning: the table predicts this machine poorly (mean error above %.0f%% or max above %.0f%%): a --max-latency budget may admit slower candidates or reject faster ones; measure with more --repeats on an idle machine, or budget MACs instead",
                             LatencyCommand.warnMean * 100, LatencyCommand.warnMax * 100))
            }
            try AtomicFile.writeJSON(["table": path, "mean_abs_relative_error": mean, "max_abs_relative_error": errors.max()!, "architectures": rows],
                                     to: path.replacingOccurrences(of: ".json", with: "") + ".validation.json")
        }
    }
}
