import Layers
import TensorCore

/// The reference SPOS supernet of ../shared/bench/peer_torch.py, built exactly:
/// stem conv3x3 1->16 + BN + ReLU; 6 choice blocks; conv1x1 128->256 + BN + ReLU;
/// global average pool; linear 256->10 with bias. Input maps are [1, 28, 28, N].
public final class ReferenceSupernet: ParameterContainer {
    public let space: ReferenceSpace
    let stem: Conv2D
    let stemNorm: BatchNorm
    let blocks: [ChoiceBlock]
    let head: Conv2D
    let headNorm: BatchNorm
    let pool = GlobalAveragePool()
    let classifier: Linear

    public init(space: ReferenceSpace = ReferenceSpace(), rng: RNG) {
        self.space = space
        stem = Conv2D(name: "stem.conv", inputChannels: space.inputChannels, outputChannels: space.stemChannels, kernel: 3)
        stemNorm = BatchNorm(name: "stem.bn", channels: space.stemChannels, relu: true)
        blocks = space.blocks.enumerated().map { ChoiceBlock(name: "blocks.\($0.offset)", spec: $0.element) }
        head = Conv2D(name: "head.conv", inputChannels: space.stageChannels.last!, outputChannels: space.finalChannels, kernel: 1)
        headNorm = BatchNorm(name: "head.bn", channels: space.finalChannels, relu: true)
        classifier = Linear(name: "fc", inputFeatures: space.finalChannels, outputFeatures: space.classes)
        initialize(rng: rng)
    }

    /// Every parameter, in a fixed order (checkpoints rely on it).
    public var parameters: [Parameter] {
        stem.parameters + stemNorm.parameters + blocks.flatMap(\.parameters)
            + head.parameters + headNorm.parameters + classifier.parameters
    }

    public var norms: [BatchNorm] { [stemNorm] + blocks.flatMap(\.norms) + [headNorm] }

    /// PyTorch-like init: kaiming normal (fan_out, relu) for conv weights on the max-size
    /// tensors, BN gamma 1 / beta 0, linear weight N(0, 0.01), bias 0.
    public func initialize(rng: RNG) {
        for p in parameters {
            if p.shape.count == 4 {
                p.initializeKaiming(fanOut: p.shape[0] * p.shape[2] * p.shape[3], rng: rng)
            }
        }
        classifier.weight.initializeNormal(std: 0.01, rng: rng)
    }

    /// Images per chunk when inference runs a large batch: each chunk's activations stay in
    /// cache, and the buffers stay at training-batch size (running statistics make
    /// inference per-sample, so chunking changes nothing numerically).
    public var inferenceChunk = 100
    private let chunkInput = ScratchBuffer()
    private let chunkLogits = ScratchBuffer()

    /// Logits [classes, 1, 1, N] of `path` on `images` ([1, 28, 28, N]).
    public func forward(_ images: FeatureMap, path: Path, mode: Mode) -> FeatureMap {
        guard mode == .inference && images.batch > inferenceChunk + inferenceChunk / 2 else {
            return forwardBatch(images, path: path, mode: mode)
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
            let logits = forwardBatch(x, path: path, mode: mode)
            for c in 0..<space.classes {
                (out.pointer + c * n + start).update(from: logits.pointer + c * m, count: m)
            }
            start += m
        }
        return out
    }

    private func forwardBatch(_ images: FeatureMap, path: Path, mode: Mode) -> FeatureMap {
        precondition(path.genes.count == blocks.count, "path has \(path.genes.count) genes for \(blocks.count) blocks")
        precondition(images.channels == space.inputChannels && images.height == space.imageSize && images.width == space.imageSize,
                     "input \(images.shapeDescription), expected [C \(space.inputChannels), H \(space.imageSize), W \(space.imageSize)]")
        let fold = mode == .inference
        var x = stem.forward(images, outputChannels: space.stemChannels, mode: mode,
                             epilogue: fold ? stemNorm.inferenceEpilogue(channels: space.stemChannels) : nil)
        if !fold { x = stemNorm.forward(x, mode: mode) }
        for (block, gene) in zip(blocks, path.genes) { x = block.forward(x, gene: gene, mode: mode) }
        x = head.forward(x, outputChannels: space.finalChannels, mode: mode,
                         epilogue: fold ? headNorm.inferenceEpilogue(channels: space.finalChannels) : nil)
        if !fold { x = headNorm.forward(x, mode: mode) }
        return Profiler.measure(.poolAndLinear) { classifier.forward(pool.forward(x, mode: mode), mode: mode) }
    }

    /// Backward of the last `.training` forward, from d(loss)/d(logits).
    public func backward(_ gradLogits: FeatureMap) {
        var g = Profiler.measure(.poolAndLinear) { pool.backward(classifier.backward(gradLogits)!) }
        g = headNorm.backward(g)
        g = head.backward(g)!
        for block in blocks.reversed() { g = block.backward(g) }
        g = stemNorm.backward(g)
        stem.backward(g, inputGradient: false)
    }

    /// BN recalibration for `path`: reset every BN's running statistics, then average the
    /// batch statistics cumulatively over `batches` (forward in `.calibrating` mode).
    public func recalibrate(path: Path, batches: [FeatureMap]) {
        for bn in norms { bn.resetRunningStatistics() }
        for b in batches { _ = forward(b, path: path, mode: .calibrating) }
    }
}
