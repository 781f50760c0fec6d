import Layers
import Spaces
import TensorCore

/// One candidate operator of one choice block, allocated at the largest widths its slot
/// can see; runs on leading slices for the active input, output and middle widths.
public protocol ChoiceOperator: ParameterContainer {
    var norms: [BatchNorm] { get }
    /// The block output (`output` channels) for input `x`, middle width `middle` and
    /// depthwise kernel `kernel` (one of the sizes an operator shared by several runs).
    func forward(_ x: FeatureMap, output: Int, middle: Int, kernel: Int, mode: Mode) -> FeatureMap
    /// Backward of the last `.training` forward: accumulates parameter gradients, returns dX.
    func backward(_ dy: FeatureMap) -> FeatureMap
    /// Appends the operator's folded inference nodes to `g`; returns the output value id.
    func graph(into g: inout InferenceGraph, input: Int, channels: Int, output: Int, middle: Int, kernel: Int) -> Int
    /// The operator's layers and how they combine, for `input`/`middle`/`output` channels.
    func describe(input: Int, output: Int, middle: Int)
        -> (combine: NetworkDescription.Combine, main: [NetworkDescription.Layer], projection: [NetworkDescription.Layer]?)
}

/// ShuffleNetV2 choice block (SPOS): shuffle-k or xception main branch.
///   width-preserving, stride 1: a, b = split(x); y = shuffle(concat(a, main(b)))
///   otherwise (stride 2):      y = concat(proj(x), main(x)), main makes out - in channels
/// Given several shuffle kernels (kernel sharing), one set of layers serves them all: the
/// depthwise layers are elastic, allocated at the largest kernel.
public final class ShuffleOperator: ChoiceOperator {
    public let slot: BlockSlot
    /// The operator whose layers these are: the largest kernel of the group.
    public let op: Operator
    let main: Chain
    let projection: Chain?
    private let concat: ChannelConcat
    private let interleave: ChannelInterleave
    private let gradInputBuffer: ScratchBuffer
    private var splitForm = true

    public let engine: Engine

    public init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine) {
        precondition(!ops.isEmpty && ops.allSatisfy { $0.family == ops[0].family } && ops[0].isShuffleFamily,
                     "ShuffleOperator for \(ops)")
        let op = ops.max { $0.kernel < $1.kernel }!
        let kernels = ops.map(\.kernel), transform = slot.kernelSharing == .transform
        self.engine = engine
        gradInputBuffer = engine.gradientScratch()
        concat = ChannelConcat(engine: engine)
        interleave = ChannelInterleave(engine: engine)
        self.slot = slot
        self.op = op
        let maxIn = slot.inputWidths.max()!, maxOut = slot.outputWidths.max()!
        let maxMid = ops.map { slot.maxMiddleWidth($0) }.max()!
        let s = slot.stride
        let split = s == 1
        let mIn = split ? maxOut / 2 : maxIn
        let mOut = split ? maxOut / 2 : maxOut - slot.inputWidths.min()!
        let k = op.kernel
        let m = name + ".main"
        if op == .xception {
            main = Chain([
                .depthwise(DepthwiseConv2D(name: m + ".dw1", channels: mIn, kernel: 3, stride: s, engine: engine)),
                .norm(BatchNorm(name: m + ".bn1", channels: mIn, engine: engine)),
                .conv(Conv2D(name: m + ".pw1", inputChannels: mIn, outputChannels: maxMid, kernel: 1, engine: engine), .middle),
                .norm(BatchNorm(name: m + ".bn2", channels: maxMid, relu: true, engine: engine)),
                .depthwise(DepthwiseConv2D(name: m + ".dw2", channels: maxMid, kernel: 3, engine: engine)),
                .norm(BatchNorm(name: m + ".bn3", channels: maxMid, engine: engine)),
                .conv(Conv2D(name: m + ".pw2", inputChannels: maxMid, outputChannels: maxMid, kernel: 1, engine: engine), .middle),
                .norm(BatchNorm(name: m + ".bn4", channels: maxMid, relu: true, engine: engine)),
                .depthwise(DepthwiseConv2D(name: m + ".dw3", channels: maxMid, kernel: 3, engine: engine)),
                .norm(BatchNorm(name: m + ".bn5", channels: maxMid, engine: engine)),
                .conv(Conv2D(name: m + ".pw3", inputChannels: maxMid, outputChannels: mOut, kernel: 1, engine: engine), .output),
                .norm(BatchNorm(name: m + ".bn6", channels: mOut, relu: true, engine: engine)),
            ])
        } else {
            main = Chain([
                .conv(Conv2D(name: m + ".pw1", inputChannels: mIn, outputChannels: maxMid, kernel: 1, engine: engine), .middle),
                .norm(BatchNorm(name: m + ".bn1", channels: maxMid, relu: true, engine: engine)),
                .depthwise(DepthwiseConv2D(name: m + ".dw", channels: maxMid, kernel: k, stride: s, kernelSizes: kernels,
                                            learnedTransform: transform, engine: engine)),
                .norm(BatchNorm(name: m + ".bn2", channels: maxMid, engine: engine)),
                .conv(Conv2D(name: m + ".pw2", inputChannels: maxMid, outputChannels: mOut, kernel: 1, engine: engine), .output),
                .norm(BatchNorm(name: m + ".bn3", channels: mOut, relu: true, engine: engine)),
            ])
        }
        if !split {
            let p = name + ".proj"
            projection = Chain([
                .depthwise(DepthwiseConv2D(name: p + ".dw", channels: maxIn, kernel: k, stride: 2, kernelSizes: kernels,
                                            learnedTransform: transform, engine: engine)),
                .norm(BatchNorm(name: p + ".bn1", channels: maxIn, engine: engine)),
                .conv(Conv2D(name: p + ".pw", inputChannels: maxIn, outputChannels: maxIn, kernel: 1, engine: engine), .input),
                .norm(BatchNorm(name: p + ".bn2", channels: maxIn, relu: true, engine: engine)),
            ])
        } else {
            projection = nil
        }
    }

    public var parameters: [Parameter] { (projection?.parameters ?? []) + main.parameters }
    public var norms: [BatchNorm] { (projection?.norms ?? []) + main.norms }

    public func forward(_ x: FeatureMap, output: Int, middle: Int, kernel: Int, mode: Mode) -> FeatureMap {
        if let projection {
            precondition(output > x.channels, "\(op) stride 2: output \(output) must exceed input \(x.channels)")
            splitForm = false
            let p = projection.forward(x, middle: middle, output: x.channels, kernel: kernel, mode: mode)
            let m = main.forward(x, middle: middle, output: output - x.channels, kernel: kernel, mode: mode)
            return engine.measure(.channelOps) { concat.forward([p, m]) }
        }
        precondition(output == x.channels, "\(op) stride 1: output \(output) must equal input \(x.channels)")
        splitForm = true
        let half = x.channels / 2
        let a = x.channels(0..<half)
        let m = main.forward(x.channels(half..<x.channels), middle: middle, output: half, kernel: kernel, mode: mode)
        return engine.measure(.channelOps) { interleave.forward(a, m) }
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        if !splitForm, let projection {
            let parts = concat.backward(dy)
            let dp = projection.backward(parts[0])
            let dm = main.backward(parts[1])
            let dx = gradInputBuffer.featureMap(channels: dp.channels, height: dp.height, width: dp.width, batch: dp.batch)
            engine.measure(.channelOps) {
                Elementwise.add(dp.pointer, dm.pointer, into: dx.pointer, count: dx.count, engine: engine)
            }
            return dx
        }
        let half = dy.channels / 2
        let dx = gradInputBuffer.featureMap(channels: dy.channels, height: dy.height, width: dy.width, batch: dy.batch)
        // The passthrough half's gradient goes straight into dx; the main branch's is split out.
        let dm = engine.measure(.channelOps) { interleave.backward(dy, gradFirst: dx.channels(0..<half)) }
        let db = main.backward(dm)
        engine.measure(.channelOps) {
            Elementwise.copy(db.pointer, dx.channels(half..<dx.channels).pointer, count: db.count, engine: engine)
        }
        return dx
    }
}

/// MobileNetV2 inverted residual: 1x1 expand + BN + ReLU, depthwise k (stride s) + BN +
/// ReLU, 1x1 project + BN (linear); identity shortcut when stride 1 and the input width
/// equals the output width. Given several kernels and expansions (kernel sharing), one set of
/// layers serves them all: an elastic depthwise kernel, expansions as leading slices of
/// the middle channels.
public final class InvertedResidualOperator: ChoiceOperator {
    public let slot: BlockSlot
    /// The largest kernel and expansion of the group.
    public let op: Operator
    let main: Chain
    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var residual = false

    public let engine: Engine

    public init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine) {
        precondition(!ops.isEmpty && ops.allSatisfy { if case .invertedResidual = $0 { return true } else { return false } },
                     "InvertedResidualOperator for \(ops)")
        let kernels = ops.map(\.kernel)
        let expansions = ops.map { op -> Int in if case let .invertedResidual(_, e) = op { return e }; return 1 }
        let op = Operator.invertedResidual(kernel: kernels.max()!, expansion: expansions.max()!)
        self.engine = engine
        output = engine.scratch()
        gradInputBuffer = engine.gradientScratch()
        self.slot = slot
        self.op = op
        let maxIn = slot.inputWidths.max()!, maxOut = slot.outputWidths.max()!
        let maxMid = ops.map { slot.maxMiddleWidth($0) }.max()!
        main = Chain([
            .conv(Conv2D(name: name + ".expand", inputChannels: maxIn, outputChannels: maxMid, kernel: 1, engine: engine), .middle),
            .norm(BatchNorm(name: name + ".bn1", channels: maxMid, relu: true, engine: engine)),
            .depthwise(DepthwiseConv2D(name: name + ".dw", channels: maxMid, kernel: op.kernel, stride: slot.stride,
                                       kernelSizes: kernels, learnedTransform: slot.kernelSharing == .transform, engine: engine)),
            .norm(BatchNorm(name: name + ".bn2", channels: maxMid, relu: true, engine: engine)),
            .conv(Conv2D(name: name + ".project", inputChannels: maxMid, outputChannels: maxOut, kernel: 1, engine: engine), .output),
            .norm(BatchNorm(name: name + ".bn3", channels: maxOut, engine: engine)),
        ])
    }

    public var parameters: [Parameter] { main.parameters }
    public var norms: [BatchNorm] { main.norms }

    public func forward(_ x: FeatureMap, output width: Int, middle: Int, kernel: Int, mode: Mode) -> FeatureMap {
        let m = main.forward(x, middle: middle, output: width, kernel: kernel, mode: mode)
        residual = slot.stride == 1 && x.channels == width
        guard residual else { return m }
        let y = output.featureMap(channels: m.channels, height: m.height, width: m.width, batch: m.batch,
                                  reserveChannels: slot.outputWidths.max()!)
        engine.measure(.channelOps) { Elementwise.add(x.pointer, m.pointer, into: y.pointer, count: y.count, engine: engine) }
        return y
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        let dm = main.backward(dy)
        guard residual else { return dm }
        let dx = gradInputBuffer.featureMap(channels: dm.channels, height: dm.height, width: dm.width, batch: dm.batch,
                                            reserveChannels: slot.inputWidths.max()!)
        engine.measure(.channelOps) { Elementwise.add(dm.pointer, dy.pointer, into: dx.pointer, count: dx.count, engine: engine) }
        return dx
    }
}

/// A choice block: one operator per group of its slot's candidates (per candidate without
/// kernel sharing).
final class ChoiceBlock: ParameterContainer {
    let slot: BlockSlot
    let operators: [ChoiceOperator]
    /// Index into `operators` of each of the slot's candidates.
    private let groupOf: [Operator: Int]
    /// PruningNet: per operator, a generator for each of its convolution weights.
    private(set) var generators: [[WeightGenerator]] = []
    private var lastOperator: Int?

    /// `gradientPool`: shared with every other block of the same parity (see `Engine.gradientBuffers`).
    init(name: String, slot: BlockSlot, engine: Engine, gradientPool: BufferPool? = nil) {
        self.slot = slot
        // A slot with one operator (a standalone model) names it after the block itself:
        // "blocks.3.main.pw1.weight" rather than "blocks.3.ops.0.main.pw1.weight".
        let single = slot.operatorGroups.count == 1
        // One step runs one operator of the block: all of them share one pool of buffers.
        var shared = engine
        let pool = BufferPool()
        shared.buffers = pool
        shared.gradientBuffers = gradientPool
        let groups = slot.operatorGroups
        var groupOf: [Operator: Int] = [:]
        for (g, ops) in groups.enumerated() { for op in ops { groupOf[op] = g } }
        self.groupOf = groupOf
        operators = groups.enumerated().map { i, ops -> ChoiceOperator in
            let opName = single ? name : "\(name).ops.\(i)"
            pool.restart()
            gradientPool?.restart()
            switch ops[0] {
            case .shuffle, .xception: return ShuffleOperator(name: opName, slot: slot, ops: ops, engine: shared)
            case .invertedResidual: return InvertedResidualOperator(name: opName, slot: slot, ops: ops, engine: shared)
            case .basic: return ResidualOperator(name: opName, slot: slot, engine: shared)
            case .conv, .separable: return PlainOperator(name: opName, slot: slot, ops: ops, engine: shared)
            }
        }
    }

    var parameters: [Parameter] { operators.flatMap(\.parameters) + generators.flatMap { $0.flatMap(\.parameters) } }
    var norms: [BatchNorm] { operators.flatMap(\.norms) }

    /// Makes every convolution weight of every operator generated (PruningNet), starting
    /// from its current (initialised) values.
    func attachGenerators(rng: RNG, engine: Engine) {
        generators = operators.map { op in
            op.parameters.filter { $0.shape.count == 4 }.map { WeightGenerator(for: $0, inputs: 4, rng: rng, engine: engine) }
        }
    }

    /// The generators' input: the block's input, middle and output widths and its kernel,
    /// each as a fraction of the largest the slot allows.
    private func encoding(_ gene: Architecture.Gene, input: Int, output: Int) -> [Float] {
        let ops = slot.operatorGroups[groupOf[gene.op]!]
        let middle = slot.middleWidth(gene, input: input, output: output)
        let maxMiddle = ops.map { slot.maxMiddleWidth($0) }.max()!
        return [Float(input) / Float(slot.inputWidths.max()!), Float(middle) / Float(maxMiddle),
                Float(output) / Float(slot.outputWidths.max()!), Float(gene.op.kernel) / Float(ops.map(\.kernel).max()!)]
    }

    /// PruningNet: writes the weights of `gene`'s operator for these widths (what a forward
    /// does first; export calls it before copying weights out).
    func generateWeights(_ gene: Architecture.Gene, input: Int, output: Int) {
        guard !generators.isEmpty, let i = groupOf[gene.op] else { return }
        let e = encoding(gene, input: input, output: output)
        for g in generators[i] { g.generate(e) }
    }

    /// The depthwise layers that run several kernel sizes (kernel sharing).
    var elasticDepthwise: [DepthwiseConv2D] {
        let chains = operators.flatMap { op -> [Chain] in
            if let s = op as? ShuffleOperator { return [s.main] + (s.projection.map { [$0] } ?? []) }
            if let r = op as? InvertedResidualOperator { return [r.main] }
            if let p = op as? PlainOperator { return [p.main] }
            return []
        }
        return chains.flatMap { $0.layers.compactMap { layer in
            if case let .depthwise(d) = layer, d.kernelSizes.count > 1 { return d } else { return nil }
        } }
    }

    func forward(_ x: FeatureMap, gene: Architecture.Gene, output: Int, mode: Mode) -> FeatureMap {
        guard let i = groupOf[gene.op] else {
            preconditionFailure("block \(slot.index): operator \(gene.op) not in \(slot.operators)")
        }
        lastOperator = i
        generateWeights(gene, input: x.channels, output: output)
        let middle = slot.middleWidth(gene, input: x.channels, output: output)
        return operators[i].forward(x, output: output, middle: middle, kernel: gene.op.kernel, mode: mode)
    }

    func backward(_ dy: FeatureMap) -> FeatureMap {
        guard let i = lastOperator else { preconditionFailure("choice block \(slot.index): backward without forward") }
        let dx = operators[i].backward(dy)
        if !generators.isEmpty { for g in generators[i] { g.backward() } }
        return dx
    }
}
