import Layers
import Spaces
import TensorCore

/// The inference computation of one architecture as a plain dataflow graph on NCHW
/// tensors, every BatchNorm folded into the convolution before it. What ONNX export and
/// the folded weight file are written from; independent of Pare's own memory layout.
public struct InferenceGraph {
    /// A convolution with folded BN: weight [out, in / groups, k, k], bias [out].
    public struct Conv {
        public var weight: [Float]
        public var bias: [Float]
        public var outputChannels: Int
        public var inputChannels: Int
        public var kernel: Int
        public var stride: Int
        public var padding: Int
        public var groups: Int
        public var relu: Bool
        /// What the border reads, per input channel (nil: zeros). A convolution that absorbed
        /// the input normalization pads with the raw mean, so it equals the unfolded pair exactly.
        public var padValue: [Float]?
        public var weightShape: [Int] { [outputChannels, inputChannels / groups, kernel, kernel] }

        public init(weight: [Float], bias: [Float], outputChannels: Int, inputChannels: Int, kernel: Int, stride: Int, padding: Int,
                    groups: Int, relu: Bool, padValue: [Float]? = nil) {
            precondition(weight.count == outputChannels * inputChannels / groups * kernel * kernel && bias.count == outputChannels,
                         "convolution weights \(weight.count), bias \(bias.count) for [\(outputChannels), \(inputChannels / groups), \(kernel), \(kernel)]")
            self.weight = weight; self.bias = bias
            self.outputChannels = outputChannels; self.inputChannels = inputChannels
            self.kernel = kernel; self.stride = stride; self.padding = padding; self.groups = groups
            self.relu = relu; self.padValue = padValue
        }
    }

    public enum Op {
        /// (x - mean[c]) / std[c] on the raw [0, 1] input.
        case normalize(mean: [Float], std: [Float])
        case conv(Conv)
        /// Channels [lower, upper) of the input.
        case slice(lower: Int, upper: Int)
        /// Channel concatenation of the inputs, in order.
        case concat
        /// ShuffleNet's channel shuffle of two equal halves: y[2i] = a[i], y[2i+1] = b[i].
        case interleave
        case add
        /// max(x, 0) (after a residual addition; convolutions carry their own).
        case relu
        case globalAveragePool
        /// y = W x + b on the pooled features, W [outputs, inputs].
        case linear(weight: [Float], bias: [Float], outputs: Int, inputs: Int)
    }

    public struct Node {
        public var name: String
        public var op: Op
        /// Value ids: 0 is the graph input, node i produces value i + 1.
        public var inputs: [Int]
        /// Channels and spatial size (height = width) of the node's output.
        public var channels: Int
        public var size: Int
    }

    public var nodes: [Node] = []
    public var inputShape: [Int]
    public var classes: Int

    /// The value id of the logits (the last node's output).
    public var output: Int { nodes.count }

    public init(inputShape: [Int], classes: Int) {
        self.inputShape = inputShape
        self.classes = classes
    }

    /// Appends a node reading `inputs`; returns the id of its output value.
    public mutating func add(_ name: String, _ op: Op, _ inputs: [Int], channels: Int) -> Int {
        var size = inputs[0] == 0 ? inputShape[1] : nodes[inputs[0] - 1].size
        switch op {
        case let .conv(c): size = (size + 2 * c.padding - c.kernel) / c.stride + 1
        case .globalAveragePool, .linear: size = 1
        default: break
        }
        nodes.append(Node(name: name, op: op, inputs: inputs, channels: channels, size: size))
        return nodes.count
    }

    /// Every folded convolution and the classifier, by layer name: the tensors of the
    /// inference-folded weight file (NAME.weight, NAME.bias).
    public var foldedTensors: [(name: String, shape: [Int], values: [Float])] {
        nodes.flatMap { node -> [(name: String, shape: [Int], values: [Float])] in
            switch node.op {
            case let .conv(c):
                return [(node.name + ".weight", c.weightShape, c.weight), (node.name + ".bias", [c.outputChannels], c.bias)]
            case let .linear(w, b, o, i):
                return [(node.name + ".weight", [o, i], w), (node.name + ".bias", [o], b)]
            default:
                return []
            }
        }
    }
}

extension Network {
    /// The inference graph of `arch` with the network's current weights and running
    /// statistics, input normalization first.
    public func inferenceGraph(_ arch: Architecture, mean: [Float], std: [Float]) throws -> InferenceGraph {
        try layers.inferenceGraph(arch, mean: mean, std: std)
    }
}

extension NetworkLayers {
    func inferenceGraph(_ arch: Architecture, mean: [Float], std: [Float]) throws -> InferenceGraph {
        try space.validate(arch)
        generateWeights(arch)
        var g = InferenceGraph(inputShape: [space.inputChannels, space.inputSize, space.inputSize], classes: space.classes)
        var x = g.add("normalize", .normalize(mean: mean, std: std), [0], channels: space.inputChannels)
        x = g.add("stem.conv", .conv(Self.fold(stem, stemNorm, input: space.inputChannels, output: space.stem.channels)), [x],
                  channels: space.stem.channels)
        var c = space.stem.channels
        for (block, gene) in zip(blocks, arch.genes) where !gene.skipped {
            let out = arch.widths[block.slot.stage]
            guard let i = block.slot.group(of: gene.op) else {
                throw SubnetError.mismatch("block \(block.slot.index) has no operator \(gene.op)")
            }
            let middle = block.slot.middleWidth(gene, input: c, output: out)
            x = block.operators[i].graph(into: &g, input: x, channels: c, output: out, middle: middle, kernel: gene.op.kernel)
            c = out
        }
        addHead(to: &g, input: x, channels: c)
        return g
    }

    /// The head convolution (if any), the pooling and the classifier after value `x`.
    func addHead(to g: inout InferenceGraph, input x: Int, channels: Int) {
        var x = x, c = channels
        if let head, let headNorm {
            x = g.add("head.conv", .conv(Self.fold(head, headNorm, input: c, output: space.head.channels)), [x], channels: space.head.channels)
            c = space.head.channels
        }
        x = g.add("pool", .globalAveragePool, [x], channels: c)
        _ = g.add("fc", classifierOp(inputs: c), [x], channels: space.classes)
    }

    /// The classifier on `inputs` features: its active columns (a supernet without a head
    /// conv allocates the widest stage).
    func classifierOp(inputs c: Int) -> InferenceGraph.Op {
        let fcIn = classifier.maxInputFeatures
        let weight = (0..<space.classes).flatMap { o in Array(UnsafeBufferPointer(start: classifier.weight.value + o * fcIn, count: c)) }
        let bias = Array(UnsafeBufferPointer(start: classifier.bias.value, count: classifier.bias.count))
        return .linear(weight: weight, bias: bias, outputs: space.classes, inputs: c)
    }

    /// A dense convolution's active window [output, input, k, k] scaled per output channel
    /// by the BN after it; the BN's shift becomes the bias.
    static func fold(_ conv: Conv2D, _ bn: BatchNorm, input: Int, output: Int) -> InferenceGraph.Conv {
        let kk = conv.kernel * conv.kernel
        let (scale, shift) = bn.foldedAffine(channels: output)
        var w = [Float](repeating: 0, count: output * input * kk)
        for o in 0..<output {
            for i in 0..<input {
                for t in 0..<kk {
                    w[(o * input + i) * kk + t] = conv.weight.value[(o * conv.maxInputChannels + i) * kk + t] * scale[o]
                }
            }
        }
        return .init(weight: w, bias: shift, outputChannels: output, inputChannels: input, kernel: conv.kernel,
                     stride: conv.stride, padding: conv.padding, groups: 1, relu: bn.fusedReLU)
    }

    /// An elastic layer folds its size-`kernel` weights (crop, transform).
    static func fold(_ conv: DepthwiseConv2D, _ bn: BatchNorm, channels: Int, kernel: Int) -> InferenceGraph.Conv {
        let kk = kernel * kernel
        let (scale, shift) = bn.foldedAffine(channels: channels)
        var w = conv.kernelWeights(kernel, channels: channels)
        for c in 0..<channels {
            for t in 0..<kk { w[c * kk + t] *= scale[c] }
        }
        return .init(weight: w, bias: shift, outputChannels: channels, inputChannels: channels, kernel: kernel,
                     stride: conv.stride, padding: kernel / 2, groups: channels, relu: bn.fusedReLU)
    }
}

extension BatchNorm {
    /// Inference BN as y = scale * x + shift, per channel.
    func foldedAffine(channels: Int) -> (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            scale[c] = gamma.value[c] / (runningVariance[c] + epsilon).squareRoot()
            shift[c] = beta.value[c] - runningMean[c] * scale[c]
        }
        return (scale, shift)
    }
}

extension Chain {
    /// The chain's folded convolutions as graph nodes, named after each convolution.
    func graph(into g: inout InferenceGraph, input: Int, channels: Int, middle: Int, output: Int, kernel: Int) -> Int {
        var x = input, c = channels
        var i = 0
        while i < layers.count {
            guard i + 1 < layers.count, case let .norm(bn) = layers[i + 1] else {
                preconditionFailure("chain layer \(i): every convolution is followed by a BatchNorm")
            }
            let conv: InferenceGraph.Conv
            let name: String
            switch layers[i] {
            case let .conv(layer, width):
                conv = NetworkLayers.fold(layer, bn, input: c, output: width.channels(middle: middle, output: output, input: c))
                name = String(layer.weight.name.dropLast(".weight".count))
            case let .depthwise(layer):
                conv = NetworkLayers.fold(layer, bn, channels: c, kernel: layer.kernelSizes.count > 1 ? kernel : layer.kernel)
                name = String(layer.weight.name.dropLast(".weight".count))
            case .norm:
                preconditionFailure("chain layer \(i): a BatchNorm without a convolution before it")
            }
            x = g.add(name, .conv(conv), [x], channels: conv.outputChannels)
            c = conv.outputChannels
            i += 2
        }
        return x
    }
}
