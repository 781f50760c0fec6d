import Datasets
import Networks
import TensorCore

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

