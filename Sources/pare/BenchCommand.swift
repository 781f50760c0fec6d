import ArgumentParser
import Workflows
import Bench
import Foundation
import TensorCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Train and infer the reference SPOS supernet on synthetic input; print images/s and GFLOP/s.",
        discussion: "Same network, batch sizes and repeats as the PyTorch peer benchmark (peer_torch.py --mode bench; docs/benchmarks.md), so the two can be put side by side.")

    @Option(help: "Timed repeats per row.") var repeats = 9
    @Option(help: "Engine threads (default: all cores).") var threads: Int?
    @Option(help: "Random seed for weights, inputs and paths.") var seed: UInt64 = 0
    @Option(help: "Comma-separated rows: sgemm, train_random, train_largest, train_smallest, eval_random, eval_largest, recal_random, recal_largest, train_options (the supernet quality options: crop, transform, pruning_net, crop_distill).")
    var rows: String?
    @Flag(help: "Also profile a random-path training step by layer kind.") var profile = false
    @Flag(help: "Print one JSON object (the peer's keys) on stdout.") var json = false
    @Flag(help: "Instead of the rows, time single kernels (BN, depthwise, 1x1 conv) on typical shapes.") var kernels = false
    @Option(help: "Instead of the rows, time a quantized model directory (pare quantize): float engine against int8 oneDNN at batch 1, 100 and 500.")
    var int8: String?

    func validate() throws {
        if let rows, let bad = BenchRow.list(rows).unknown {
            throw ValidationError("--rows: unknown row '\(bad)' (known: \(BenchRow.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: threads)
            var options = BenchOptions()
            options.repeats = max(1, repeats)
            options.seed = seed
            options.profile = profile
            if let rows { options.rows = BenchRow.list(rows).rows }
            logLine("pare bench: OpenBLAS core \(BLAS.coreName), \(engine.threads) threads")
            if kernels {
                KernelBench().run { print($0) }
                return
            }
            if let int8 {
                let rows = try Int8Bench(directory: int8, repeats: repeats).run(engine: engine)
                if json {
                    let enc = JSONEncoder()
                    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(data: try enc.encode(rows), encoding: .utf8)!)
                } else {
                    print("batch   Pare float   oneDNN float   oneDNN int8   int8 / Pare float   int8 / oneDNN float  (images/s)")
                    for r in rows {
                        print(String(format: "%5d  %11.0f  %13.0f  %12.0f  %17.2fx  %19.2fx", r.batch, r.floatImagesPerSecond, r.oneDNNFloatImagesPerSecond,
                                     r.int8ImagesPerSecond, r.speedup, r.int8ImagesPerSecond / r.oneDNNFloatImagesPerSecond))
                    }
                }
                return
            }
            let report = ReferenceBench(options: options, engine: engine, log: logLine).run()
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(data: try enc.encode(report), encoding: .utf8)!)
            } else {
                for (k, v) in report.achievedGflops.sorted(by: { $0.key < $1.key }) { print("achieved \(k): \(v) GFLOP/s") }
                if let b = report.trainStepBreakdownMs {
                    print("training step breakdown (ms/step, random path, batch 128):")
                    for (k, v) in b.sorted(by: { $0.value > $1.value }) { print("  \(k): \(v)") }
                }
                if let b = report.evalBreakdownMs {
                    print("inference breakdown (ms/batch, random path, batch 500):")
                    for (k, v) in b.sorted(by: { $0.value > $1.value }) { print("  \(k): \(v)") }
                }
                if let b = report.recalBreakdownMs {
                    print("BN recalibration breakdown (ms per 20 x 128 images, random path):")
                    for (k, v) in b.sorted(by: { $0.value > $1.value }) { print("  \(k): \(v)") }
                }
            }
        }
    }
}
