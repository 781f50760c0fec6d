import Layers
import Spaces
import TensorCore

/// ResNet basic block (`OperatorPlan.Join.residualReLU`): y = ReLU(main(x) + shortcut(x)),
/// main = 3x3 conv (stride s) + BN + ReLU, 3x3 conv + BN; the shortcut is x itself when
/// stride is 1 and the widths agree, else a 1x1 convolution (stride s) + BN. The middle width
/// (the first convolution's output) is the block's own channel group; the output width is
/// its stage's (the additions couple it).
public final class ResidualOperator: JoinedOperator {
    static let join = OperatorPlan.Join.residualReLU
    public let slot: BlockSlot
    public let op: Operator
    let main: Chain
    /// Allocated when some input/output pair of the slot (or its stride) needs it.
    let projection: Chain?
    private let output: ScratchBuffer
    private let gradSum: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var savedOutput: FeatureMap?
    private var projected = false
    public let engine: Engine

    public init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine, scratch: ScratchPools) {
        self.slot = slot
        self.engine = engine
        output = scratch.buffer()
        gradSum = scratch.gradientBuffer()
        gradInputBuffer = scratch.gradientBuffer()
        let chains = OperatorChains(name: name, slot: slot, ops: ops, engine: engine, scratch: scratch)
        (op, main, projection) = (chains.op, chains.main, chains.projection)
    }

    var chains: [Chain] { [main] + (projection.map { [$0] } ?? []) }

    func usesProjection(input: Int, output: Int) -> Bool { Self.join.branches(input: input, output: output, stride: slot.stride).projectionOutput != nil }

    public func forward(_ x: FeatureMap, output width: Int, middle: Int, kernel: Int, mode: Mode) -> FeatureMap {
        let m = main.forward(x, middle: middle, output: width, kernel: 3, mode: mode)
        projected = usesProjection(input: x.channels, output: width)
        let s = projected ? projection!.forward(x, middle: middle, output: width, kernel: 1, mode: mode) : x
        let y = output.featureMap(channels: m.channels, height: m.height, width: m.width, batch: m.batch,
                                  reserveChannels: slot.outputWidths.max()!)
        engine.measure(.channelOps) { Elementwise.addReLU(m.pointer, s.pointer, into: y.pointer, count: y.count, engine: engine) }
        savedOutput = mode == .training ? y : nil
        return y
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        guard let y = savedOutput else { preconditionFailure("basic block \(slot.index): backward without a training forward") }
        let dz = gradSum.featureMap(channels: y.channels, height: y.height, width: y.width, batch: y.batch, reserveChannels: slot.outputWidths.max()!)
        engine.measure(.channelOps) {
            Elementwise.reluBackward(output: y.pointer, gradOutput: dy.pointer, gradInput: dz.pointer, count: y.count, engine: engine)
        }
        let dm = main.backward(dz)
        let ds = projected ? projection!.backward(dz) : dz
        let dx = gradInputBuffer.featureMap(channels: dm.channels, height: dm.height, width: dm.width, batch: dm.batch,
                                            reserveChannels: slot.inputWidths.max()!)
        engine.measure(.channelOps) { Elementwise.add(dm.pointer, ds.pointer, into: dx.pointer, count: dx.count, engine: engine) }
        return dx
    }

    public func graph(into g: inout InferenceGraph, input x: Int, channels c: Int, output: Int, middle: Int, kernel: Int) -> Int {
        let name = String(main.parameters[0].name.dropLast((op.plan.main[0].name + ".weight").count))
        let m = main.graph(into: &g, input: x, channels: c, middle: middle, output: output, kernel: 3)
        let s = usesProjection(input: c, output: output) ? projection!.graph(into: &g, input: x, channels: c, middle: middle, output: output, kernel: 1) : x
        let sum = g.add(name + ".add", .add, [m, s], channels: output)
        return g.add(name + ".relu", .relu, [sum], channels: output)
    }

    public func describe(input c: Int, output: Int, middle: Int)
        -> (combine: NetworkDescription.Combine, main: [NetworkDescription.Layer], projection: [NetworkDescription.Layer]?) {
        let m = main.describe(input: c, middle: middle, output: output)
        guard usesProjection(input: c, output: output) else { return (.addInputMainReLU, m, nil) }
        return (.addProjectionMainReLU, m, projection!.describe(input: c, middle: middle, output: output))
    }

    func channelGroups(_ b: inout GroupBuilder, input: Int, middle: ChannelGroup.Role, projects: Bool) {
        b.add(main, reading: input, middle: middle)
        if projects, let projection { b.add(projection, reading: input, middle: middle) }
    }
}
