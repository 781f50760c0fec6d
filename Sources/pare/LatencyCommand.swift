import ArgumentParser
import Foundation
import Workflows

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
    var runtime: LatencyRuntime?

    // No validate(): the option --validate takes its name; measureLatency checks the counts.
    func run() throws {
        try reportingErrors {
            var r = LatencyRequest(space: space)
            r.out = out; r.batch = batch; r.repeats = repeats; r.calibrate = calibrate; r.validate = validate; r.seed = seed
            r.runtime = runtime; r.int8 = int8
            let t = try measureLatency(r, engine: startEngine(threads: threads), log: logLine)
            print(String(format: "%d signatures of %@ measured %@in %.1f s (batch %d, median of %d), scale %.3f, overhead %.3f ms per pass, fitted on %d architectures -> %@",
                         t.table.entries.count, t.table.space.name, int8 ? "in int8 on oneDNN " : t.runtime == .onednn ? "in float on oneDNN " : "", t.seconds, batch, repeats,
                         t.table.scale, t.table.overheadMs, calibrate, t.path))
            guard let mean = t.meanError, let max = t.maxError else { return }
            print("  predicted  measured   error  architecture")
            for p in t.validation {
                print(String(format: "  %7.3f ms %7.3f ms %+6.1f%%  %@", p.predictedMs, p.measuredMs, p.relativeError * 100, p.architecture.description))
            }
            print(String(format: "mean |error| %.1f%%, max %.1f%% over %d random architectures", mean * 100, max * 100, t.validation.count))
            if t.predictsPoorly {
                print(String(format: "warning: the table predicts this machine poorly (mean error above %.0f%% or max above %.0f%%): a --max-latency budget may admit slower candidates or reject faster ones; measure with more --repeats on an idle machine, or budget MACs instead",
                             LatencyRequest.warnMean * 100, LatencyRequest.warnMax * 100))
            }
        }
    }
}
