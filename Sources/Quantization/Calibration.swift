import Datasets
import Networks
import TensorCore

/// Images of a data set as the executors take them: raw pixels (uint8, the int8 path's input
/// grid) or pixel / 255 (the float path's), NCHW.
public struct ImageSource: Sendable {
    public var dataset: Dataset
    public var indices: [Int]

    public init(dataset: Dataset, indices: [Int]? = nil) {
        self.dataset = dataset
        self.indices = indices ?? Array(0..<dataset.count)
    }

    public var count: Int { indices.count }

    public func pixels(_ range: Range<Int>) -> [UInt8] {
        let size = dataset.recordSize
        var out = [UInt8]()
        out.reserveCapacity(range.count * size)
        for i in range { out += dataset.pixels[(indices[i] * size)..<((indices[i] + 1) * size)] }
        return out
    }

    public func floats(_ range: Range<Int>) -> [Float] { pixels(range).map { Float($0) / 255 } }

    public func labels(_ range: Range<Int>) -> [Int] { range.map { Int(dataset.labels[indices[$0]]) } }

    /// Contiguous batches of at most `batch` images, split into `parts` runs of whole batches
    /// (one per thread).
    func batches(_ batch: Int, parts: Int) -> [[Range<Int>]] {
        let all = stride(from: 0, to: count, by: batch).map { $0..<min(count, $0 + batch) }
        let p = max(1, min(parts, all.count))
        return (0..<p).map { k in Array(all[(all.count * k / p)..<(all.count * (k + 1) / p)]) }
    }
}

/// Runs `body(part)` for each part on the engine's threads, collecting the results in order.
func parallelMap<T>(_ parts: Int, engine: Engine, _ body: (Int) -> T) -> [T] {
    var results = [T?](repeating: nil, count: parts)
    results.withUnsafeMutableBufferPointer { out in
        let base = out.baseAddress!
        engine.forEach(parts) { base[$0] = body($0) }
    }
    return results.map { $0! }
}

public enum Calibration {
    /// Statistics of every quantized value (input and node outputs, not the logits) over
    /// `images`: the extremes, and with `histogram` a second pass for the histograms.
    public static func statistics(_ g: InferenceGraph, images: ImageSource, batch: Int = 64, histogram: Bool,
                                  engine: Engine) -> [ActivationStatistics] {
        let parts = images.batches(batch, parts: engine.threads)
        func pass(_ start: [ActivationStatistics], _ observe: @escaping (inout ActivationStatistics, [Float]) -> Void) -> [[ActivationStatistics]] {
            parallelMap(parts.count, engine: engine) { p -> [ActivationStatistics] in
                var stats = start
                for range in parts[p] {
                    _ = FloatExecutor.run(g, input: images.floats(range), batch: range.count) { id, values in observe(&stats[id], values) }
                }
                return stats
            }
        }
        var stats = [ActivationStatistics](repeating: ActivationStatistics(), count: g.nodes.count)
        for partial in pass(stats, { $0.observeRange($1) }) { for i in stats.indices { stats[i].merge(partial[i]) } }
        if histogram {
            for partial in pass(stats, { $0.observeHistogram($1) }) { for i in stats.indices { stats[i].addHistogram(partial[i]) } }
        }
        return stats
    }

    /// Calibrates on `images` and quantizes `g` with `settings`.
    public static func quantize(_ g: InferenceGraph, images: ImageSource, settings: QuantizationSettings, engine: Engine) throws -> QuantizedGraph {
        let stats = statistics(g, images: images, histogram: settings.observer != .minmax, engine: engine)
        var s = settings
        s.calibrationImages = images.count
        return try QuantizedGraph(graph: g, ranges: stats.map { $0.range(settings.observer, percentile: settings.percentile) }, settings: s)
    }
}

/// Accuracy of the float graph and of its int8 version on the same images, and how far each
/// quantized value is from its float counterpart.
public enum QuantizedEvaluation {
    public struct Accuracy: Codable, Equatable, Sendable {
        public var float: Double
        public var int8: Double
        /// Images on which the two predict the same class.
        public var agreement: Double
        public var images: Int
    }

    /// Float predictions on the engine's threads, int8 ones on oneDNN (its own threads).
    public static func accuracy(_ q: QuantizedGraph, images: ImageSource, batch: Int = 100, engine: Engine) throws -> Accuracy {
        let parts = images.batches(batch, parts: engine.threads)
        let float = parallelMap(parts.count, engine: engine) { p -> [Int] in
            parts[p].flatMap { range in
                let f = FloatExecutor.run(q.graph, input: images.floats(range), batch: range.count)
                return (0..<range.count).map { argmax(f, row: $0, classes: q.graph.classes) }
            }
        }.flatMap { $0 }
        let dnnl = try DNNLExecutor(q, threads: engine.threads)
        var int8 = [Int]()
        for range in parts.flatMap({ $0 }) {
            let y = try dnnl.run(images.pixels(range), batch: range.count)
            int8 += (0..<range.count).map { argmax(y, row: $0, classes: q.graph.classes) }
        }
        let labels = images.labels(0..<images.count)
        let n = Double(max(images.count, 1))
        func share(_ hit: (Int) -> Bool) -> Double { Double(labels.indices.filter(hit).count) / n }
        return Accuracy(float: share { float[$0] == labels[$0] }, int8: share { int8[$0] == labels[$0] },
                        agreement: share { float[$0] == int8[$0] }, images: images.count)
    }

    public struct LayerError: Codable, Equatable, Sendable {
        public var node: String
        public var scale: Float
        public var zeroPoint: Int32
        /// dB; higher is better. Cumulative: the int8 network's value there against the float one's.
        public var sqnr: Double
    }

    /// SQNR of every convolution's output (and of the logits, last) on `images`.
    public static func layerErrors(_ q: QuantizedGraph, images: ImageSource) -> [LayerError] {
        let range = 0..<images.count
        var floats: [Int: [Float]] = [:], ints: [Int: [UInt8]] = [:]
        let convs = Set(q.graph.nodes.indices.filter { if case .conv = q.graph.nodes[$0].op { return true } else { return false } }.map { $0 + 1 })
        let f = FloatExecutor.run(q.graph, input: images.floats(range), batch: range.count) { id, v in if convs.contains(id) { floats[id] = v } }
        let i = IntegerExecutor.run(q, input: images.pixels(range), batch: range.count) { id, v in if convs.contains(id) { ints[id] = v } }
        var out = convs.sorted().map { id -> LayerError in
            let a = q.activations[id]
            return LayerError(node: q.graph.nodes[id - 1].name, scale: a.scale, zeroPoint: a.zeroPoint,
                              sqnr: sqnr(reference: floats[id]!, approximation: ints[id]!.map { a.dequantize(Int32($0)) }))
        }
        out.append(LayerError(node: "logits", scale: 0, zeroPoint: 0, sqnr: sqnr(reference: f, approximation: i)))
        return out
    }

    static func argmax(_ logits: [Float], row: Int, classes: Int) -> Int {
        var best = 0
        for c in 1..<classes where logits[row * classes + c] > logits[row * classes + best] { best = c }
        return best
    }
}

