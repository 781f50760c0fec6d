import Layers
import Spaces
import TensorCore

/// Every layer of one architecture spelled out (what `model.json` carries as `network`), so
/// the network can be rebuilt from `model.json` and its weight file without Pare's code.
/// Tensor names are prefixes: a layer `NAME` has `NAME.weight`; its BatchNorm `BN` has
/// `BN.weight` (gamma), `BN.bias` (beta), `BN.running_mean`, `BN.running_var`.
public struct NetworkDescription: Codable, Equatable, Sendable {
    public enum LayerType: String, Codable, Sendable {
        /// Dense convolution (groups 1), weight [out, in, k, k].
        case conv
        /// Depthwise convolution (groups = channels), weight [channels, 1, k, k].
        case depthwiseConv = "depthwise_conv"
    }

    public enum Activation: String, Codable, Sendable {
        case relu, none
    }

    /// A convolution without bias, followed by a BatchNorm (inference: running statistics,
    /// `batchNormEpsilon`) and then its activation.
    public struct Layer: Codable, Equatable, Sendable {
        public var name: String
        public var type: LayerType
        public var inputChannels: Int
        public var outputChannels: Int
        public var kernel: Int
        public var stride: Int
        /// Zero padding on every side.
        public var padding: Int
        public var groups: Int
        public var batchNorm: String
        public var activation: Activation
    }

    /// How a block's output is made from its input `x` and its branches.
    public enum Combine: String, Codable, Sendable {
        /// ShuffleNetV2, stride 1: a = x[:, :C/2], b = x[:, C/2:], m = main(b);
        /// output channel 2i is a[i], 2i+1 is m[i] (channel shuffle of concat(a, m), 2 groups).
        case splitMainInterleave = "split_main_interleave"
        /// ShuffleNetV2, stride 2: concat(projection(x), main(x)) along channels, projection first.
        case concatProjectionMain = "concat_projection_main"
        /// MobileNetV2, stride 1 and equal widths: x + main(x).
        case addInputMain = "add_input_main"
        /// main(x) alone.
        case main
        /// ResNet basic block, stride 1 and equal widths: ReLU(x + main(x)).
        case addInputMainReLU = "add_input_main_relu"
        /// ResNet basic block otherwise: ReLU(projection(x) + main(x)).
        case addProjectionMainReLU = "add_projection_main_relu"
    }

    public struct Block: Codable, Equatable, Sendable {
        public var index: Int
        public var stage: Int
        /// The operator's name in the space (shuffle3, xception, mbconv5_e6, basic, ...).
        public var `operator`: String
        public var inputChannels: Int
        public var middleChannels: Int
        public var outputChannels: Int
        /// The block's stride (the stage's stride for its first block, else 1); the layers
        /// that carry it have it in their own `stride`.
        public var stride: Int
        public var inputSize: Int
        public var outputSize: Int
        public var combine: Combine
        /// Layers in order, each taking the previous one's output.
        public var main: [Layer]
        public var projection: [Layer]?
    }

    public struct Classifier: Codable, Equatable, Sendable {
        public var name: String
        public var inputFeatures: Int
        public var outputFeatures: Int
        /// Weight [out, in] and bias [out]: logits = weight · pooled + bias.
        public var bias: Bool
    }

    /// Input pixels (bytes 0...255) are multiplied by this before the normalization.
    public var pixelScale: Float = 1.0 / 255
    /// Per-channel (x - mean) / std after pixel scaling; model.json's `normalization`.
    public var normalizationNote = "x = (pixel * pixelScale - normalization.mean[c]) / normalization.std[c]"
    public var batchNormEpsilon: Float
    /// NCHW; activations of one image are [channels, size, size].
    public var layout = "NCHW"
    public var stem: Layer
    public var blocks: [Block]
    /// The 1x1 convolution before pooling; absent when pooling follows the last block (ResNet).
    public var head: Layer?
    /// Mean over each channel's spatial plane, then the classifier.
    public var pool = "global_average"
    public var classifier: Classifier
    /// What the outputs are: logits, no softmax applied.
    public var output = "logits"
}

extension Network {
    /// The explicit description of `arch` on this network.
    public func describe(_ arch: Architecture) throws -> NetworkDescription {
        try space.validate(arch)
        let l = layers
        var size = space.inputSize
        let stem = NetworkLayers.describe(conv: l.stem, bn: l.stemNorm, input: space.inputChannels, output: space.stem.channels)
        size = Depthwise.outputSize(size, kernel: l.stem.kernel, stride: l.stem.stride, padding: l.stem.padding)
        var c = space.stem.channels
        var blocks: [NetworkDescription.Block] = []
        for (block, gene) in zip(l.blocks, arch.genes) where !gene.skipped {
            let out = arch.widths[block.slot.stage]
            guard let i = block.slot.group(of: gene.op) else {
                throw SubnetError.mismatch("block \(block.slot.index) has no operator \(gene.op)")
            }
            let middle = block.slot.middleWidth(gene, input: c, output: out)
            let described = block.operators[i].describe(input: c, output: out, middle: middle)
            let outSize = block.slot.outputSize
            blocks.append(.init(index: block.slot.index, stage: block.slot.stage, operator: gene.op.description, inputChannels: c,
                                middleChannels: middle, outputChannels: out, stride: block.slot.stride, inputSize: size,
                                outputSize: outSize, combine: described.combine, main: described.main, projection: described.projection))
            size = outSize
            c = out
        }
        var head: NetworkDescription.Layer?
        if let conv = l.head, let bn = l.headNorm { head = NetworkLayers.describe(conv: conv, bn: bn, input: c, output: space.head.channels) }
        return NetworkDescription(batchNormEpsilon: l.stemNorm.epsilon, stem: stem, blocks: blocks, head: head,
                                  classifier: .init(name: "fc", inputFeatures: head?.outputChannels ?? c, outputFeatures: space.classes, bias: true))
    }
}

extension NetworkLayers {
    static func describe(conv: Conv2D, bn: BatchNorm, input: Int, output: Int) -> NetworkDescription.Layer {
        .init(name: String(conv.weight.name.dropLast(".weight".count)), type: .conv, inputChannels: input, outputChannels: output,
              kernel: conv.kernel, stride: conv.stride, padding: conv.padding, groups: 1, batchNorm: bn.layerName,
              activation: bn.fusedReLU ? .relu : .none)
    }

    static func describe(depthwise: DepthwiseConv2D, bn: BatchNorm, channels: Int) -> NetworkDescription.Layer {
        .init(name: String(depthwise.weight.name.dropLast(".weight".count)), type: .depthwiseConv, inputChannels: channels,
              outputChannels: channels, kernel: depthwise.kernel, stride: depthwise.stride, padding: depthwise.padding,
              groups: channels, batchNorm: bn.layerName, activation: bn.fusedReLU ? .relu : .none)
    }
}

extension Chain {
    func describe(input channels: Int, middle: Int, output: Int) -> [NetworkDescription.Layer] {
        var out: [NetworkDescription.Layer] = []
        var c = channels
        var i = 0
        while i + 1 < layers.count {
            guard case let .norm(bn) = layers[i + 1] else { preconditionFailure("chain layer \(i): no BatchNorm after it") }
            switch layers[i] {
            case let .conv(conv, width):
                let o = width.channels(middle: middle, output: output, input: c)
                out.append(NetworkLayers.describe(conv: conv, bn: bn, input: c, output: o))
                c = o
            case let .depthwise(d):
                out.append(NetworkLayers.describe(depthwise: d, bn: bn, channels: c))
            case .norm:
                preconditionFailure("chain layer \(i): a BatchNorm without a convolution before it")
            }
            i += 2
        }
        return out
    }
}
