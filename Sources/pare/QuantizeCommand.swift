import ArgumentParser
import Datasets
import Export
import Foundation
import Networks
import Quantization
import Runs
import Spaces
import TensorCore

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
    @Option(help: "exported, finetuned, scratch, qat (pare finetune --qat) or a .safetensors file (default: finetuned if present, else exported).") var weights: String?
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
            let dir = ModelDirectory(path: modelDirectory)
            let weightsName = try resolveWeights(weights, in: dir)
            let label = weightsLabel(of: weightsName)
            let (d, model) = try dir.load(weights: weightsName, engine: engine)
            let (train, val, test, source) = try loadModelData(d, data: data)
            let graph = try model.inferenceGraph(model.architecture, mean: d.normalization.mean, std: d.normalization.std).foldingInputNormalization()
            let count = min(train.count, calibrationBatches * 100)
            let draw = RNG(seed: seed).permutation(train.count).prefix(count)
            let settings = QuantizationSettings(observer: observer, percentile: percentile, powerOfTwo: powerOfTwo)
            logLine("pare quantize: \(d.architecture) [\(label)], \(observer.rawValue) ranges on \(count) training images of \(source)")
            let started = Date()
            let q = try Calibration.quantize(graph, images: ImageSource(dataset: train, indices: Array(draw)), settings: settings, engine: engine)
            let calibrationSeconds = Date().timeIntervalSince(started)
            try Int8ModelFile.write(q, metadata: ["architecture": d.architecture, "weights": label], to: dir.file(Int8ModelFile.file))
            var description = d
            description.record(.init(file: Int8ModelFile.file, content: .int8Weights, weights: label))
            if onnx {
                try AtomicFile.write(ONNXExport.encode(q, producerVersion: "1"), to: dir.file(ModelDirectory.int8ONNXFile))
                description.record(.init(file: ModelDirectory.int8ONNXFile, content: .int8ONNX, weights: label))
            } else if FileManager.default.fileExists(atPath: dir.file(ModelDirectory.int8ONNXFile)) {
                // An earlier quantization's ONNX file no longer matches the int8 weights.
                try FileManager.default.removeItem(atPath: dir.file(ModelDirectory.int8ONNXFile))
                description.files?.removeAll { $0.content == .int8ONNX }
            }
            try AtomicFile.writeJSON(encodable: description, to: dir.file(ModelDirectory.descriptionFile))

            let valAccuracy = try QuantizedEvaluation.accuracy(q, images: ImageSource(dataset: val), engine: engine)
            let testAccuracy = try QuantizedEvaluation.accuracy(q, images: ImageSource(dataset: test), engine: engine)
            let errors = QuantizedEvaluation.layerErrors(q, images: ImageSource(dataset: val, indices: Array(0..<min(errorImages, val.count))))
            let bytes = q.weightBytes
            print(String(format: "accuracy, float -> int8: validation %.4f -> %.4f (%d images, %.2f%% agree), test %.4f -> %.4f (%d images, %.2f%% agree)",
                         valAccuracy.float, valAccuracy.int8, valAccuracy.images, 100 * valAccuracy.agreement,
                         testAccuracy.float, testAccuracy.int8, testAccuracy.images, 100 * testAccuracy.agreement))
            print(String(format: "weights: %d bytes float32 -> %d bytes int8 (%.2fx smaller); calibration %.1f s", bytes.float32, bytes.int8,
                         Double(bytes.float32) / Double(max(bytes.int8, 1)), calibrationSeconds))
            print("SQNR of each convolution's output, int8 network against float (dB, higher is better; \(min(errorImages, val.count)) validation images):")
            for e in errors { print("  " + e.node.padding(toLength: max(32, e.node.count), withPad: " ", startingAt: 0) + String(format: " %7.2f", e.sqnr)) }
            let worst = errors.dropLast().min { $0.sqnr < $1.sqnr }
            if let worst { print(String(format: "lowest: %@ at %.2f dB", worst.node, worst.sqnr)) }
            let report = QuantizeReport(architecture: d.architecture, weights: label, data: source.description, settings: q.settings,
                                        validation: valAccuracy, test: testAccuracy, weightBytesFloat32: bytes.float32, weightBytesInt8: bytes.int8,
                                        layers: errors, calibrationSeconds: calibrationSeconds,
                                        files: [Int8ModelFile.file] + (onnx ? [ModelDirectory.int8ONNXFile] : []))
            try AtomicFile.writeJSON(encodable: report, to: dir.file("quantize-report.json"))
            print("written: \(dir.file(Int8ModelFile.file))" + (onnx ? ", \(dir.file(ModelDirectory.int8ONNXFile))" : "") + ", \(dir.file("quantize-report.json"))")
        }
    }
}

struct QuantizeReport: Codable {
    var architecture: String
    var weights: String
    var data: String
    var settings: QuantizationSettings
    var validation: QuantizedEvaluation.Accuracy
    var test: QuantizedEvaluation.Accuracy
    var weightBytesFloat32: Int
    var weightBytesInt8: Int
    var layers: [QuantizedEvaluation.LayerError]
    var calibrationSeconds: Double
    var files: [String]
}

/// The training, validation and test splits of an exported model's data.
func loadModelData(_ d: ModelDescription, data: String?) throws -> (train: Dataset, validation: Dataset, test: Dataset, source: DataSource) {
    var config = TrainConfig(space: d.space, spaceFile: d.provenance.spaceFile, data: data ?? d.provenance.data)
    config.validation = d.provenance.validation
    config.trainLimit = d.provenance.trainLimit
    let (train, val, source) = try loadSplits(config)
    return (train, val, try loadTestSplit(config), source)
}
