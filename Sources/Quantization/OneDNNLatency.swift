import Networks
import Spaces
import TensorCore

/// Latency of a model on oneDNN, for `pare latency --int8` (the int8 model) and `pare latency
/// --engine onednn` (the folded float graph): each signature's graph, and whole architectures,
/// timed. The int8 graphs are quantized on plausible grids: timing does not depend on the
/// values, only on the shapes and on which grids have a zero point (zero-point convolutions
/// pad by hand), so ReLU outputs get [0, 4] and the rest [−4, 4], as calibration would give.
public final class OneDNNLatencyProfiler: LatencyMeasuring {
    public let network: any Network
    public let batch: Int
    public let repeats: Int
    public let int8: Bool
    public var threads: Int { network.engine.threads }
    public var space: SearchSpace { network.space }
    public var precision: String { int8 ? "int8" : "float32-onednn" }
    private let rng = RNG(seed: 78)

    public init(network: any Network, batch: Int, repeats: Int, int8: Bool) {
        precondition(batch >= 1 && repeats >= 1, "latency: batch \(batch), repeats \(repeats)")
        self.int8 = int8
        self.network = network
        self.batch = batch
        self.repeats = repeats
    }

    func plausible(_ g: InferenceGraph) throws -> QuantizedGraph {
        let ranges = (0..<g.nodes.count).map { id -> (lower: Float, upper: Float) in
            guard id > 0 else { return (0, 1) }
            switch g.nodes[id - 1].op {
            case let .conv(c) where c.relu: return (0, 4)
            case .relu: return (0, 4)
            default: return (-4, 4)
            }
        }
        let closed = closed(g)
        return try QuantizedGraph(graph: closed, ranges: Array((ranges + [(-4, 4)]).prefix(closed.nodes.count)), settings: QuantizationSettings())
    }

    func time(_ g: InferenceGraph, nhwc: Bool) -> Double {
        let count = batch * g.inputShape[0] * g.inputShape[1] * g.inputShape[1]
        if !int8 {
            guard let dnnl = try? DNNLFloatExecutor(closed(g), threads: threads) else { return .nan }
            let input = (0..<count).map { _ in Float(rng.uniform()) }
            return LatencyProfiler.medianMs(repeats: repeats) { _ = try? dnnl.run(input, batch: batch, nhwcInput: nhwc) }
        }
        guard let q = try? plausible(g), let dnnl = try? DNNLExecutor(q, threads: threads) else { return .nan }
        let input = (0..<count).map { _ in UInt8(rng.int(below: 256)) }
        return LatencyProfiler.medianMs(repeats: repeats) { _ = try? dnnl.run(input, batch: batch, nhwcInput: nhwc) }
    }

    /// A graph ending in the classifier (a block alone gets a one-output one, so that its last
    /// value is stored like any other; its cost, n × channels multiply-adds, is noise).
    func closed(_ g: InferenceGraph) -> InferenceGraph {
        if case .linear = g.nodes.last?.op { return g }
        var closed = g
        let c = g.nodes.last!.channels
        _ = closed.add("end", .linear(weight: [Float](repeating: 0, count: c), bias: [0], outputs: 1, inputs: c), [closed.output], channels: 1)
        return closed
    }

    public func measure(_ s: LayerSignature, gene: Architecture.Gene?) -> Double {
        // Blocks and the head read NHWC activations in the int8 model: no transposition timed.
        time(network.signatureGraph(s, gene: gene), nhwc: s.kind != .stem)
    }

    public func measure(_ arch: Architecture) -> Double {
        guard let g = try? network.inferenceGraph(arch, mean: [Float](repeating: 0.5, count: space.inputChannels),
                                                  std: [Float](repeating: 0.25, count: space.inputChannels)) else { return .nan }
        return time(g.foldingInputNormalization(), nhwc: false)
    }
}
