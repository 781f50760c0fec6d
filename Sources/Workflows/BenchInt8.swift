import Datasets
import Export
import Foundation
import Networks
import Quantization
import TensorCore
import Workflows

/// `pare bench --int8 DIR`: the quantized model's inference speed, float (Pare's engine, and the
/// same graph on oneDNN) against int8 (oneDNN), at batch 1, 100 and 500 in the same run, on the
/// model's own test images.
public struct Int8Bench: Sendable {
    public struct Row: Codable, Sendable {
        public var batch: Int
        /// Pare's own engine (the channel-major layout it trains in).
        public var floatImagesPerSecond: Double
        /// The same folded float graph on oneDNN, NHWC.
        public var oneDNNFloatImagesPerSecond: Double
        public var int8ImagesPerSecond: Double
        /// int8 against Pare's float engine.
        public var speedup: Double
    }

    public var directory: String
    /// Timed repeats per row (twenty times as many at batch 1).
    public var repeats: Int

    public init(directory: String, repeats: Int) {
        self.directory = directory
        self.repeats = max(1, repeats)
    }

    public func run(engine: Engine) throws -> [Row] {
        let dir = ModelDirectory(path: directory)
        let (d, model) = try dir.load(weights: nil, engine: engine)
        let path = dir.file(Int8ModelFile.file)
        guard FileManager.default.fileExists(atPath: path) else { throw UserError("\(path): not found; run pare quantize \(directory) first") }
        let graph = try model.inferenceGraph(model.architecture, mean: d.normalization.mean, std: d.normalization.std).foldingInputNormalization()
        let dnnl = try DNNLExecutor(try Int8ModelFile.read(path, graph: graph), threads: engine.threads)
        let dnnlFloat = try DNNLFloatExecutor(graph, threads: engine.threads)
        // Speed only: any of the model's images will do.
        let data = try loadModelData(d, data: nil)
        let test = data.test ?? data.validation
        var rows: [Row] = []
        for batch in [1, 100, 500] {
            let n = min(batch, test.count)
            let images = ImageSource(dataset: test, indices: Array(0..<n))
            let loader = BatchLoader(dataset: test, batchSize: n, normalization: d.normalization, shuffle: false, dropLast: false)
            let x = loader.fill(indices: Array(0..<n), rng: nil)
            let pixels = images.pixels(0..<n)
            let times = max(3, repeats * (batch == 1 ? 20 : 1))
            let float = LatencyProfiler.medianMs(repeats: times) { _ = model.forward(x, arch: model.architecture, mode: .inference) }
            let int8 = LatencyProfiler.medianMs(repeats: times) { _ = try? dnnl.run(pixels, batch: n) }
            let floats = images.floats(0..<n)
            let oneDNNFloat = LatencyProfiler.medianMs(repeats: times) { _ = try? dnnlFloat.run(floats, batch: n) }
            rows.append(Row(batch: n, floatImagesPerSecond: Double(n) * 1000 / float, oneDNNFloatImagesPerSecond: Double(n) * 1000 / oneDNNFloat,
                            int8ImagesPerSecond: Double(n) * 1000 / int8, speedup: float / int8))
        }
        return rows
    }
}
