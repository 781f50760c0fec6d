import Layers
import Spaces
import TensorCore

/// Output width of a convolution inside a choice operator, resolved at run time.
typealias Width = OperatorPlan.Width

/// One step of a linear chain of layers.
enum ChainLayer {
    case conv(Conv2D, Width)
    case depthwise(DepthwiseConv2D)
    case norm(BatchNorm)
}

/// A straight sequence of conv / depthwise / BN layers (the branches of a choice block).
/// Forward takes the sampled middle and output widths and the kernel for elastic depthwise
/// layers (the others keep theirs); backward runs the layers in
/// reverse. Inference folds each BN into the convolution before it.
final class Chain: ParameterContainer {
    let layers: [ChainLayer]
    /// Per-channel sums and squares handed from a depthwise kernel to the BN after it.
    private let statistics: UnsafeMutablePointer<Double>
    private let statisticsCapacity: Int

    init(_ layers: [ChainLayer]) {
        self.layers = layers
        statisticsCapacity = 2 * layers.reduce(1) { m, l in
            if case let .norm(b) = l { return max(m, b.maxChannels) } else { return m }
        }
        statistics = .allocate(capacity: statisticsCapacity)
        statistics.initialize(repeating: 0, count: statisticsCapacity)
    }

    /// The layers `plan` lists, allocated for `input`, `middle` and `output` channels and
    /// named `name` + each layer's suffix; strided layers take `stride`, elastic depthwise
    /// layers serve `kernels` (the largest is the plan's).
    convenience init(_ plan: [OperatorPlan.Layer], name: String, input: Int, middle: Int, output: Int, stride: Int,
                     kernels: [Int], transform: Bool, engine: Engine, scratch: ScratchPools) {
        var layers: [ChainLayer] = []
        var c = input
        for layer in plan {
            let s = layer.strided ? stride : 1
            switch layer.kind {
            case let .dense(width):
                let out = width.channels(middle: middle, output: output, input: c)
                layers.append(.conv(Conv2D(name: name + layer.name, inputChannels: c, outputChannels: out, kernel: layer.kernel,
                                           stride: s, engine: engine, scratch: scratch), width))
                c = out
            case .depthwise:
                layers.append(.depthwise(DepthwiseConv2D(name: name + layer.name, channels: c, kernel: layer.kernel, stride: s,
                                                         kernelSizes: layer.elastic ? kernels : [],
                                                         learnedTransform: layer.elastic && transform, engine: engine, scratch: scratch)))
            }
            layers.append(.norm(BatchNorm(name: name + layer.norm, channels: c, relu: layer.relu, engine: engine, scratch: scratch)))
        }
        self.init(layers)
    }

    deinit { statistics.deallocate() }

    var parameters: [Parameter] {
        layers.flatMap { layer -> [Parameter] in
            switch layer {
            case let .conv(c, _): return c.parameters
            case let .depthwise(d): return d.parameters
            case let .norm(b): return b.parameters
            }
        }
    }

    var norms: [BatchNorm] {
        layers.compactMap { if case let .norm(b) = $0 { return b } else { return nil } }
    }

    func forward(_ input: FeatureMap, middle: Int, output: Int, kernel: Int, mode: Mode) -> FeatureMap {
        func size(_ d: DepthwiseConv2D) -> Int { d.kernelSizes.count > 1 ? kernel : d.kernel }
        var x = input
        var i = 0
        while i < layers.count {
            var epilogueNorm: BatchNorm?
            if mode != .training, i + 1 < layers.count, case let .norm(b) = layers[i + 1] { epilogueNorm = b }
            if mode == .calibrating, let bn = epilogueNorm {
                // Calibration: the BN after a convolution normalises its output in place, with
                // the statistics a depthwise kernel gathered as it wrote them.
                switch layers[i] {
                case let .conv(c, width):
                    let out = width.channels(middle: middle, output: output, input: x.channels)
                    x = bn.calibrateInPlace(c.forward(x, outputChannels: out, mode: mode), statistics: nil)
                case let .depthwise(d):
                    x = bn.calibrateInPlace(d.forward(x, mode: mode, kernel: size(d), statistics: statistics), statistics: statistics)
                case let .norm(b):
                    x = b.forward(x, mode: mode)
                    epilogueNorm = nil
                }
                i += epilogueNorm == nil ? 1 : 2
                continue
            }
            switch layers[i] {
            case let .conv(c, width):
                let out = width.channels(middle: middle, output: output, input: x.channels)
                x = c.forward(x, outputChannels: out, mode: mode, epilogue: epilogueNorm?.inferenceEpilogue(channels: out))
            case let .depthwise(d):
                x = d.forward(x, mode: mode, kernel: size(d), epilogue: epilogueNorm?.inferenceEpilogue(channels: x.channels))
            case let .norm(b):
                x = b.forward(x, mode: mode)
            }
            i += epilogueNorm == nil ? 1 : 2
        }
        return x
    }

    func backward(_ gradOutput: FeatureMap) -> FeatureMap {
        var g = gradOutput
        for layer in layers.reversed() {
            switch layer {
            case let .conv(c, _): g = c.backward(g)!
            case let .depthwise(d): g = d.backward(g)!
            case let .norm(b): g = b.backward(g)
            }
        }
        return g
    }
}
