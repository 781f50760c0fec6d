import Datasets
import Export
import Foundation
import Networks
import Quantization
import Runs
import Spaces
import TensorCore

/// `pare quantize`: post-training int8 quantization of an exported model's inference graph.
public struct QuantizeRequest: Sendable {
    public var model: String
    /// nil: finetuned if present, else exported.
    public var weights: WeightsChoice?
    /// Batches of 100 training images the activation ranges are calibrated on, drawn with `seed`.
    public var calibrationBatches = 20
    public var seed: UInt64 = 0
    public var settings = QuantizationSettings(observer: .minmax, percentile: 99.99, powerOfTwo: false)
    /// Validation images the per-layer SQNR is measured on.
    public var errorImages = 200
    public var data: String?
    /// Also write model.int8.onnx (QDQ).
    public var onnx = false
    public init(model: String) { self.model = model }
}

/// Calibrates, writes DIR/model.int8.safetensors (and ONNX), measures float against int8.
public func quantize(_ r: QuantizeRequest, engine: Engine, log: @escaping Log) throws -> QuantizeReport {
    let dir = ModelDirectory(path: r.model)
    let weightsName = try resolveWeights(r.weights, in: dir)
    let label = weightsLabel(of: weightsName)
    let (d, model) = try dir.load(weights: weightsName, engine: engine)
    let (train, val, test, source) = try loadModelData(d, data: r.data)
    let graph = try model.inferenceGraph(model.architecture, mean: d.normalization.mean, std: d.normalization.std).foldingInputNormalization()
    let count = min(train.count, r.calibrationBatches * 100)
    let draw = RNG(seed: r.seed).permutation(train.count).prefix(count)
    let settings = r.settings
    log("pare quantize: \(d.architecture) [\(label)], \(settings.observer.rawValue) ranges on \(count) training images of \(source)")
    let started = Date()
    let q = try Calibration.quantize(graph, images: ImageSource(dataset: train, indices: Array(draw)), settings: settings, engine: engine)
    let calibrationSeconds = Date().timeIntervalSince(started)
    try Int8ModelFile.write(q, metadata: ["architecture": d.architecture, "weights": label], to: dir.file(Int8ModelFile.file))
    var description = d
    description.record(.init(file: Int8ModelFile.file, content: .int8Weights, weights: label))
    if r.onnx {
        try AtomicFile.write(ONNXExport.encode(q, producerVersion: "1"), to: dir.file(ModelDirectory.int8ONNXFile))
        description.record(.init(file: ModelDirectory.int8ONNXFile, content: .int8ONNX, weights: label))
    } else if FileManager.default.fileExists(atPath: dir.file(ModelDirectory.int8ONNXFile)) {
        // An earlier quantization's ONNX file no longer matches the int8 weights.
        try FileManager.default.removeItem(atPath: dir.file(ModelDirectory.int8ONNXFile))
        description.files?.removeAll { $0.content == .int8ONNX }
    }
    try AtomicFile.writeJSON(encodable: description, to: dir.file(ModelDirectory.descriptionFile))

    let valAccuracy = try QuantizedEvaluation.accuracy(q, images: ImageSource(dataset: val), engine: engine)
    let testAccuracy = try test.map { try QuantizedEvaluation.accuracy(q, images: ImageSource(dataset: $0), engine: engine) }
    let errors = QuantizedEvaluation.layerErrors(q, images: ImageSource(dataset: val, indices: Array(0..<min(r.errorImages, val.count))))
    let bytes = q.weightBytes
    let report = QuantizeReport(architecture: d.architecture, weights: label, data: source.description, settings: q.settings,
                                validation: valAccuracy, test: testAccuracy, weightBytesFloat32: bytes.float32, weightBytesInt8: bytes.int8,
                                layers: errors, calibrationSeconds: calibrationSeconds, errorImages: min(r.errorImages, val.count),
                                files: [Int8ModelFile.file] + (r.onnx ? [ModelDirectory.int8ONNXFile] : []))
    try AtomicFile.writeJSON(encodable: report, to: dir.file(QuantizeReport.file))
    return report
}

/// What `quantize` measured and wrote (also DIR/quantize-report.json).
public struct QuantizeReport: Codable, Sendable {
    public static let file = "quantize-report.json"
    public var architecture: String
    public var weights: String
    public var data: String
    public var settings: QuantizationSettings
    public var validation: QuantizedEvaluation.Accuracy
    /// nil when the data has no test split.
    public var test: QuantizedEvaluation.Accuracy?
    public var weightBytesFloat32: Int
    public var weightBytesInt8: Int
    public var layers: [QuantizedEvaluation.LayerError]
    public var calibrationSeconds: Double
    /// Validation images the SQNR was measured on.
    public var errorImages: Int
    public var files: [String]
}
