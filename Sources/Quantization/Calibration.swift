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
        var out = [UInt8]()
        out.reserveCapacity(range.count * dataset.recordSize)
        for i in range { dataset.withRecord(indices[i]) { out.append(contentsOf: $0) } }
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
