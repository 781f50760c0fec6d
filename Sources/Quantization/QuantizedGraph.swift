import Networks

/// How a model is quantized (recorded in the int8 weights file and the report).
public struct QuantizationSettings: Codable, Equatable, Sendable {
    public var observer: RangeObserver
    /// For `percentile`: the upper percentile kept (the lower one is 100 minus it).
    public var percentile: Double
    public var powerOfTwo: Bool
    public var calibrationImages: Int

    public init(observer: RangeObserver = .minmax, percentile: Double = 99.99, powerOfTwo: Bool = false, calibrationImages: Int = 0) {
        self.observer = observer
        self.percentile = percentile
        self.powerOfTwo = powerOfTwo
        self.calibrationImages = calibrationImages
    }
}

/// A convolution or the classifier in integers: int8 weights per output channel, the bias in
/// int32 at scale s_input · s_weight[o], and (a convolution that absorbed the input
/// normalization) its border value per input channel on the input's grid.
public struct QuantizedLayer: Equatable, Sendable {
    public var weights: ChannelQuantizedWeights
    public var bias: [Int32]
    public var padValue: [Int32]?

    public init(weights: ChannelQuantizedWeights, bias: [Int32], padValue: [Int32]?) {
        precondition(bias.count == weights.outputs, "\(bias.count) biases for \(weights.outputs) channels")
        self.weights = weights
        self.bias = bias
        self.padValue = padValue
    }
}

/// An inference graph with uint8 activations: every value but the logits has affine
/// parameters; every convolution and the classifier integer weights. The classifier's int32
/// sums are dequantized to float logits (no last rounding before the argmax).
public struct QuantizedGraph {
    public var graph: InferenceGraph
    /// Per value id 0 ..< nodes.count (0: the input; the logits, id nodes.count, stay float).
    public var activations: [AffineQuantization]
    /// Per node index, for convolutions and the classifier.
    public var layers: [Int: QuantizedLayer]
    public var settings: QuantizationSettings

    public init(graph: InferenceGraph, activations: [AffineQuantization], layers: [Int: QuantizedLayer], settings: QuantizationSettings) {
        self.graph = graph
        self.activations = activations
        self.layers = layers
        self.settings = settings
    }

    /// Quantizes `graph` with one range per value (from calibration). The input is raw pixels
    /// (pixel / 255): its grid is exactly the 256 pixel values whatever the range says.
    public init(graph: InferenceGraph, ranges: [(lower: Float, upper: Float)], settings: QuantizationSettings) throws {
        guard case .linear = graph.nodes.last?.op else { throw QuantizationError.unsupported("the graph must end with the classifier") }
        precondition(ranges.count == graph.nodes.count, "\(ranges.count) ranges for \(graph.nodes.count) quantized values")
        var activations = ranges.map { AffineQuantization(minimum: $0.lower, maximum: $0.upper, powerOfTwo: settings.powerOfTwo) }
        activations[0] = AffineQuantization(scale: 1 / 255, zeroPoint: 0)
        // A slice keeps its input's grid (it only moves values). A ReLU after a residual sum gets
        // its own, non-negative one: all 256 steps for what survives, and a zero point of 0 for
        // the convolutions that read it (no hand padding on the int8 path).
        for (i, node) in graph.nodes.enumerated() where i + 1 < graph.output {
            if case .slice = node.op { activations[i + 1] = activations[node.inputs[0]] }
        }
        var layers: [Int: QuantizedLayer] = [:]
        for (i, node) in graph.nodes.enumerated() {
            let input = activations[node.inputs[0]]
            switch node.op {
            case let .conv(c):
                let w = ChannelQuantizedWeights(c.weight, outputs: c.outputChannels, powerOfTwo: settings.powerOfTwo)
                layers[i] = QuantizedLayer(weights: w, bias: Self.bias(c.bias, input: input, weights: w),
                                           padValue: c.padValue.map { $0.map { input.quantize($0) } })
            case let .linear(weight, bias, outputs, _):
                let w = ChannelQuantizedWeights(weight, outputs: outputs, powerOfTwo: settings.powerOfTwo)
                layers[i] = QuantizedLayer(weights: w, bias: Self.bias(bias, input: input, weights: w), padValue: nil)
            default:
                break
            }
        }
        self.init(graph: graph, activations: activations, layers: layers, settings: settings)
    }

    static func bias(_ b: [Float], input: AffineQuantization, weights: ChannelQuantizedWeights) -> [Int32] {
        b.indices.map { o in
            let q = (b[o] / (input.scale * weights.scales[o])).rounded(.toNearestOrEven)
            return Int32(max(min(q, 2.0e9), -2.0e9))
        }
    }

    /// Bytes of the integer weights and biases (what an int8 deployment stores), against
    /// 4 bytes per float weight and bias.
    public var weightBytes: (int8: Int, float32: Int) {
        layers.values.reduce((0, 0)) { sum, l in
            (sum.0 + l.weights.values.count + 4 * l.bias.count + 4 * l.weights.scales.count, sum.1 + 4 * (l.weights.values.count + l.bias.count))
        }
    }
}

public enum QuantizationError: Error, CustomStringConvertible, Equatable {
    case unsupported(String)

    public var description: String {
        switch self {
        case let .unsupported(what): return "cannot quantize: \(what)"
        }
    }
}
