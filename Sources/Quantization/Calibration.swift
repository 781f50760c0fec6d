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

    public static func accuracy(_ q: QuantizedGraph, images: ImageSource, batch: Int = 100, engine: Engine) -> Accuracy {
        let parts = images.batches(batch, parts: engine.threads)
        let counts = parallelMap(parts.count, engine: engine) { p -> (Int, Int, Int) in
            var float = 0, int8 = 0, same = 0
            for range in parts[p] {
                let f = FloatExecutor.run(q.graph, input: images.floats(range), batch: range.count)
                let i = IntegerExecutor.run(q, input: images.pixels(range), batch: range.count)
                for (j, label) in images.labels(range).enumerated() {
                    let a = argmax(f, row: j, classes: q.graph.classes), b = argmax(i, row: j, classes: q.graph.classes)
                    if a == label { float += 1 }
                    if b == label { int8 += 1 }
                    if a == b { same += 1 }
                }
            }
            return (float, int8, same)
        }
        let n = Double(max(images.count, 1))
        return Accuracy(float: Double(counts.map(\.0).reduce(0, +)) / n, int8: Double(counts.map(\.1).reduce(0, +)) / n,
                        agreement: Double(counts.map(\.2).reduce(0, +)) / n, images: images.count)
    }

    /// Int8 logits [n, classes] of uint8 images (NCHW), the batch split over the engine's threads.
    public static func logits(_ q: QuantizedGraph, pixels: [UInt8], batch n: Int, engine: Engine) -> [Float] {
        let record = pixels.count / max(n, 1), parts = min(engine.threads, n)
        if parts <= 1 { return IntegerExecutor.run(q, input: pixels, batch: n) }
        return parallelMap(parts, engine: engine) { p -> [Float] in
            let lo = n * p / parts, hi = n * (p + 1) / parts
            return IntegerExecutor.run(q, input: Array(pixels[(lo * record)..<(hi * record)]), batch: hi - lo)
        }.flatMap { $0 }
    }

    /// Int8-only accuracy (the deployment path alone).
    public static func int8Accuracy(_ q: QuantizedGraph, images: ImageSource, batch: Int = 100, engine: Engine) -> (accuracy: Double, logits: [Float]) {
        let parts = images.batches(batch, parts: engine.threads)
        let results = parallelMap(parts.count, engine: engine) { p -> (Int, [Float]) in
            var hits = 0, logits = [Float]()
            for range in parts[p] {
                let y = IntegerExecutor.run(q, input: images.pixels(range), batch: range.count)
                for (j, label) in images.labels(range).enumerated() where argmax(y, row: j, classes: q.graph.classes) == label { hits += 1 }
                logits += y
            }
            return (hits, logits)
        }
        return (Double(results.map(\.0).reduce(0, +)) / Double(max(images.count, 1)), results.flatMap(\.1))
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

