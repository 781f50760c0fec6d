import ArgumentParser
import Foundation
import Quantization
import Workflows

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Post-training int8 quantization of an exported model: calibrate, write int8 weights, report the accuracy it costs.",
        discussion: """
        The model's inference graph (BN and the input normalization folded into the convolutions) gets int8 \
        weights, symmetric per output channel, and uint8 activations, affine per tensor, their ranges calibrated \
        on --calibration-batches batches of 100 training images (--observer minmax, percentile or kl, TensorRT's \
        entropy calibration). --power-of-two rounds every scale up to a power of two, so requantization is a \
        shift. Writes DIR/model.int8.safetensors (with --onnx DIR/model.int8.onnx, QDQ) and DIR/quantize-report.json: \
        float and int8 accuracy on the validation and test splits, and the SQNR of every convolution's output, \
        so the layer that loses most shows. `pare eval DIR --int8` runs the int8 model.
        """)

    @Argument(help: "Model directory written by pare export (or pare prune).") var modelDirectory: String
    @Option(help: "exported, finetuned, scratch, qat (pare finetune --qat) or a .safetensors file (default: finetuned if present, else exported).") var weights: WeightsChoice?
    @Option(help: "Batches of 100 training images the activation ranges are calibrated on (default 20).") var calibrationBatches = 20
    @Option(help: "Activation range observer: minmax, percentile or kl (default minmax).") var observer: RangeObserver = .minmax
    @Option(help: "--observer percentile: the percentile kept at the top (and 100 minus it at the bottom; default 99.99).") var percentile = 99.99
    @Flag(help: "Round every scale up to a power of two (requantization becomes a shift).") var powerOfTwo = false
    @Flag(help: "Also write model.int8.onnx (QuantizeLinear / DequantizeLinear form).") var onnx = false
    @Option(help: "Validation images the per-layer SQNR is measured on (default 200).") var errorImages = 200
    @Option(help: "Data source (default: the one in model.json).") var data: String?
    @Option(help: "Seed of the calibration images' draw (default 0).") var seed: UInt64 = 0
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    func validate() throws {
        guard (1...1000).contains(calibrationBatches) else { throw ValidationError("--calibration-batches must be in 1...1000, got \(calibrationBatches)") }
        guard percentile > 50 && percentile <= 100 else { throw ValidationError("--percentile must be in (50, 100], got \(percentile)") }
        guard (1...10_000).contains(errorImages) else { throw ValidationError("--error-images must be in 1...10000") }
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: threads)
            var r = QuantizeRequest(model: modelDirectory)
            r.weights = weights; r.calibrationBatches = calibrationBatches; r.errorImages = errorImages; r.data = data; r.seed = seed
            r.settings = QuantizationSettings(observer: observer, percentile: percentile, powerOfTwo: powerOfTwo)
            r.onnx = onnx
            let q = try quantize(r, engine: engine, log: logLine)
            let valAccuracy = q.validation
            let test = q.test.map { String(format: ", test %.4f -> %.4f (%d images, %.2f%% agree)", $0.float, $0.int8, $0.images, 100 * $0.agreement) } ?? " (the data has no test split)"
            print(String(format: "accuracy, float -> int8: validation %.4f -> %.4f (%d images, %.2f%% agree)",
                         valAccuracy.float, valAccuracy.int8, valAccuracy.images, 100 * valAccuracy.agreement) + test)
            print(String(format: "weights: %d bytes float32 -> %d bytes int8 (%.2fx smaller); calibration %.1f s", q.weightBytesFloat32, q.weightBytesInt8,
                         Double(q.weightBytesFloat32) / Double(max(q.weightBytesInt8, 1)), q.calibrationSeconds))
            print("SQNR of each convolution's output, int8 network against float (dB, higher is better; \(q.errorImages) validation images):")
            for e in q.layers { print("  " + e.node.padding(toLength: max(32, e.node.count), withPad: " ", startingAt: 0) + String(format: " %7.2f", e.sqnr)) }
            let worst = q.layers.dropLast().min { $0.sqnr < $1.sqnr }
            if let worst { print(String(format: "lowest: %@ at %.2f dB", worst.node, worst.sqnr)) }
            print("written: " + (q.files + [QuantizeReport.file]).map { (modelDirectory as NSString).appendingPathComponent($0) }.joined(separator: ", "))
        }
    }
}
