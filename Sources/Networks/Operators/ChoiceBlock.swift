import Layers
import Spaces
import TensorCore

/// A choice block: one operator per group of its slot's candidates (per candidate without
/// kernel sharing).
final class ChoiceBlock: ParameterContainer {
    let slot: BlockSlot
    let operators: [any JoinedOperator]
    /// Index into `operators` of each of the slot's candidates.
    private let groupOf: [Operator: Int]
    /// PruningNet: per operator, a generator for each of its convolution weights.
    private(set) var generators: [[WeightGenerator]] = []
    private var lastOperator: Int?
    /// Whether the last forward skipped the block.
    private var bypassed = false
    /// A skipped block's copy of its output gradient: blocks of one parity share gradient
    /// buffers (`ScratchPools.backward`), so with this block skipped, the running blocks
    /// before and after it can be of one parity, and the earlier one's backward would
    /// overwrite the gradient it reads.
    private let bypassGradient = ScratchBuffer()

    /// `gradientPool`: shared with every other block of the same parity (see `ScratchPools.backward`).
    init(name: String, slot: BlockSlot, engine: Engine, gradientPool: BufferPool? = nil) {
        self.slot = slot
        // A slot with one operator (a standalone model) names it after the block itself:
        // "blocks.3.main.pw1.weight" rather than "blocks.3.ops.0.main.pw1.weight".
        let single = slot.operatorGroups.count == 1
        // One step runs one operator of the block: all of them share one pool of buffers.
        let pool = BufferPool()
        let scratch = ScratchPools(forward: pool, backward: gradientPool)
        let groups = slot.operatorGroups
        var groupOf: [Operator: Int] = [:]
        for (g, ops) in groups.enumerated() { for op in ops { groupOf[op] = g } }
        self.groupOf = groupOf
        operators = groups.enumerated().map { i, ops in
            let opName = single ? name : "\(name).ops.\(i)"
            pool.restart()
            gradientPool?.restart()
            return makeJoinedOperator(name: opName, slot: slot, ops: ops, engine: engine, scratch: scratch)
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
        operators.flatMap(\.chains).flatMap { $0.layers.compactMap { layer in
            if case let .depthwise(d) = layer, d.kernelSizes.count > 1 { return d } else { return nil }
        } }
    }

    func forward(_ x: FeatureMap, gene: Architecture.Gene, output: Int, mode: Mode) -> FeatureMap {
        guard let i = groupOf[gene.op] else {
            preconditionFailure("block \(slot.index): operator \(gene.op) not in \(slot.operators)")
        }
        bypassed = false
        lastOperator = i
        generateWeights(gene, input: x.channels, output: output)
        let middle = slot.middleWidth(gene, input: x.channels, output: output)
        return operators[i].forward(x, output: output, middle: middle, kernel: gene.op.kernel, mode: mode)
    }

    /// Elastic depth: the block skipped, its input passed on (and, in backward, its gradient).
    func bypass(_ x: FeatureMap) -> FeatureMap {
        bypassed = true
        return x
    }

    func backward(_ dy: FeatureMap) -> FeatureMap {
        if bypassed {
            let copy = bypassGradient.featureMap(channels: dy.channels, height: dy.height, width: dy.width, batch: dy.batch)
            copy.pointer.update(from: dy.pointer, count: dy.count)
            return copy
        }
        guard let i = lastOperator else { preconditionFailure("choice block \(slot.index): backward without forward") }
        let dx = operators[i].backward(dy)
        if !generators.isEmpty { for g in generators[i] { g.backward() } }
        return dx
    }
}
