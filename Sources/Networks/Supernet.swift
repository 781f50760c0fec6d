import Layers
import Spaces
import TensorCore

extension RNG: RandomSource {}

/// The layers of a network built from a search space, shared by `Supernet` and `Subnet`:
/// stem conv + BN + ReLU; one choice block per slot (each candidate operator owns its
/// weights, allocated at the largest widths the slot allows); conv1x1 head + BN + ReLU (if any);
/// global average pool; linear classifier with bias. Input maps are [C, H, W, N].
public final class NetworkLayers: ParameterContainer {
    public let space: SearchSpace
    let stem: Conv2D
    let stemNorm: BatchNorm
    let blocks: [ChoiceBlock]
    /// The 1x1 head convolution and its BN; nil when the space has none (ResNet).
    let head: Conv2D?
    let headNorm: BatchNorm?
    let pool: GlobalAveragePool
    /// Threads and profiler every layer runs with.
    public let engine: Engine
    let classifier: Linear

    /// Images per chunk when inference runs a large batch: each chunk's activations stay in
    /// cache, and the buffers stay at training-batch size (running statistics make
    /// inference per-sample, so chunking changes nothing numerically).
    public var inferenceChunk = 100
    private let chunkInput = ScratchBuffer()
    private let chunkLogits = ScratchBuffer()

    /// All of the space's choices, or (with `arch`) exactly that architecture: one operator
    /// per slot, every tensor at its chosen widths.
    init(space: SearchSpace, rng: RNG, fixedTo arch: Architecture?, engine: Engine) {
        self.space = space
        self.engine = engine
        pool = GlobalAveragePool(engine: engine)
        stem = Conv2D(name: "stem.conv", inputChannels: space.inputChannels, outputChannels: space.stem.channels,
                      kernel: space.stem.kernel, stride: space.stem.stride, engine: engine)
        stemNorm = BatchNorm(name: "stem.bn", channels: space.stem.channels, relu: true, engine: engine)
        // Backward of block b reads only block b + 1's result: blocks of one parity can share
        // their gradient buffers.
        let gradientPools = [BufferPool(), BufferPool()]
        let slots = arch.map { space.slots(fixedTo: $0) } ?? space.blocks
        blocks = slots.map { ChoiceBlock(name: "blocks.\($0.index)", slot: $0, engine: engine, gradientPool: gradientPools[$0.index % 2]) }
        let lastMax = arch?.widths.last ?? space.stages.last?.widths.max() ?? space.stem.channels
        let hasHead = space.head.channels > 0
        head = hasHead ? Conv2D(name: "head.conv", inputChannels: lastMax, outputChannels: space.head.channels, kernel: 1, engine: engine) : nil
        headNorm = hasHead ? BatchNorm(name: "head.bn", channels: space.head.channels, relu: true, engine: engine) : nil
        classifier = Linear(name: "fc", inputFeatures: hasHead ? space.head.channels : lastMax, outputFeatures: space.classes, engine: engine)
        initialize(rng: rng)
        // A subnet (fixed architecture) holds plain weights: export materializes generated ones.
        if space.pruningNet && arch == nil { for b in blocks { b.attachGenerators(rng: rng, engine: engine) } }
    }

    /// PruningNet: every block's weights generated for `arch` (a forward does this itself).
    func generateWeights(_ arch: Architecture) {
        var input = space.stem.channels
        for (block, gene) in zip(blocks, arch.genes) where !gene.skipped {
            let output = arch.widths[block.slot.stage]
            block.generateWeights(gene, input: input, output: output)
            input = output
        }
    }

    public var parameters: [Parameter] {
        stem.parameters + stemNorm.parameters + blocks.flatMap(\.parameters)
            + (head?.parameters ?? []) + (headNorm?.parameters ?? []) + classifier.parameters
    }

    public var norms: [BatchNorm] { [stemNorm] + blocks.flatMap(\.norms) + (headNorm.map { [$0] } ?? []) }

    /// PyTorch-like init: kaiming normal (fan_out, relu) for conv weights on the max-size
    /// tensors, BN gamma 1 / beta 0, linear weight N(0, 0.01), bias 0.
    public func initialize(rng: RNG) {
        for p in parameters where p.shape.count == 4 {
            p.initializeKaiming(fanOut: p.shape[0] * p.shape[2] * p.shape[3], rng: rng)
        }
        classifier.weight.initializeNormal(std: 0.01, rng: rng)
    }

    func forward(_ images: FeatureMap, arch: Architecture, mode: Mode) -> FeatureMap {
        guard mode == .inference && images.batch > inferenceChunk + inferenceChunk / 2 else {
            return forwardBatch(images, arch: arch, mode: mode)
        }
        let n = images.batch
        let out = chunkLogits.featureMap(channels: space.classes, height: 1, width: 1, batch: n)
        var start = 0
        while start < n {
            let m = min(inferenceChunk, n - start)
            // Batch is innermost: gather the chunk's columns of every (c, h, w) row.
            let x = chunkInput.featureMap(channels: images.channels, height: images.height, width: images.width, batch: m)
            for row in 0..<(images.channels * images.height * images.width) {
                (x.pointer + row * m).update(from: images.pointer + row * n + start, count: m)
            }
            let logits = forwardBatch(x, arch: arch, mode: mode)
            for c in 0..<space.classes {
                (out.pointer + c * n + start).update(from: logits.pointer + c * m, count: m)
            }
            start += m
        }
        return out
    }

    private func forwardBatch(_ images: FeatureMap, arch: Architecture, mode: Mode) -> FeatureMap {
        precondition(arch.genes.count == blocks.count && arch.widths.count == space.stages.count,
                     "architecture has \(arch.widths.count) widths / \(arch.genes.count) genes for \(space.stages.count) stages / \(blocks.count) blocks")
        precondition(images.channels == space.inputChannels && images.height == space.inputSize && images.width == space.inputSize,
                     "input \(images.shapeDescription), expected [C \(space.inputChannels), H \(space.inputSize), W \(space.inputSize)]")
        // Inference folds each BN into the convolution before it.
        let fold = mode == .inference
        var x = fold ? forwardStem(images) : stemNorm.forward(stem.forward(images, outputChannels: space.stem.channels, mode: mode), mode: mode)
        for (block, gene) in zip(blocks, arch.genes) {
            // A skipped block (elastic depth) is the identity: stride 1, width-preserving.
            x = gene.skipped ? block.bypass(x) : block.forward(x, gene: gene, output: arch.widths[block.slot.stage], mode: mode)
        }
        if fold { return forwardHead(x) }
        if let head, let headNorm { x = headNorm.forward(head.forward(x, outputChannels: space.head.channels, mode: mode), mode: mode) }
        return engine.measure(.poolAndLinear) { classifier.forward(pool.forward(x, mode: mode), mode: mode) }
    }

    func backward(_ gradLogits: FeatureMap) {
        var g = engine.measure(.poolAndLinear) { pool.backward(classifier.backward(gradLogits)!) }
        if let head, let headNorm {
            g = headNorm.backward(g)
            g = head.backward(g)!
        }
        for block in blocks.reversed() { g = block.backward(g) }
        g = stemNorm.backward(g)
        stem.backward(g, inputGradient: false)
    }
}

/// A network built from a search space: the weight-sharing `Supernet` or a `Subnet` of one
/// architecture. Both run through the same layers, so training, checkpoints, evaluation
/// and export code take either.
public protocol Network: AnyObject {
    var layers: NetworkLayers { get }
}

extension Network {
    public var space: SearchSpace { layers.space }
    /// Threads and profiler the network runs with (fixed when it is built).
    public var engine: Engine { layers.engine }
    public var parameters: [Parameter] { layers.parameters }
    public var norms: [BatchNorm] { layers.norms }
    /// Images per chunk of a large inference batch.
    public var inferenceChunk: Int {
        get { layers.inferenceChunk }
        set { layers.inferenceChunk = newValue }
    }

    /// Logits [classes, 1, 1, N] of `arch` on `images`.
    public func forward(_ images: FeatureMap, arch: Architecture, mode: Mode) -> FeatureMap {
        layers.forward(images, arch: running(arch), mode: mode)
    }

    /// `arch` as this network runs it: a subnet of a candidate that skips blocks holds only
    /// the blocks it runs, so the supernet's architecture (what a scorer, a trainer or an
    /// evaluator is handed) becomes the subnet's own.
    public func running(_ arch: Architecture) -> Architecture {
        guard arch.skipsBlocks, let subnet = self as? Subnet else { return arch }
        let own = subnet.architecture
        precondition(arch.widths == own.widths && arch.genes.filter { !$0.skipped } == own.genes,
                     "architecture \(arch) is not the subnet's \(own)")
        return own
    }

    public func backward(_ gradLogits: FeatureMap) { layers.backward(gradLogits) }
}

/// The weight-sharing supernet of a search space: every candidate operator of every slot,
/// each allocated at the largest widths; any architecture of the space runs on leading
/// slices of its tensors.
public final class Supernet: Network {
    public let layers: NetworkLayers
    public init(space: SearchSpace, rng: RNG, engine: Engine = Engine()) {
        layers = NetworkLayers(space: space, rng: rng, fixedTo: nil, engine: engine)
    }
}

/// A network of one architecture: one operator per slot, every tensor at exactly the
/// architecture's widths (what export writes, finetune trains and eval runs).
public final class Subnet: Network {
    public let layers: NetworkLayers
    public let architecture: Architecture
    /// An architecture that skips blocks (elastic depth) becomes a network of its own
    /// depth: `space` and `architecture` are then `space.withoutSkippedBlocks(architecture)`'s.
    public init(space: SearchSpace, architecture: Architecture, rng: RNG, engine: Engine = Engine()) {
        let fixed = space.withoutSkippedBlocks(architecture)
        self.architecture = fixed.architecture
        layers = NetworkLayers(space: fixed.space, rng: rng, fixedTo: fixed.architecture, engine: engine)
    }

    /// Logits of the architecture on `images`.
    public func forward(_ images: FeatureMap, mode: Mode) -> FeatureMap {
        layers.forward(images, arch: architecture, mode: mode)
    }
}
