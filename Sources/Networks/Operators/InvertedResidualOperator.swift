import Layers
import Spaces
import TensorCore

/// MobileNetV2 inverted residual (`OperatorPlan.Join.residual`): 1x1 expand + BN + ReLU,
/// depthwise k (stride s) + BN + ReLU, 1x1 project + BN (linear); identity shortcut when
/// stride 1 and the input width equals the output width. Given several kernels and
/// expansions (kernel sharing), one set of layers serves them all: an elastic depthwise
/// kernel, expansions as leading slices of the middle channels.
public final class InvertedResidualOperator: JoinedOperator {
    static let join = OperatorPlan.Join.residual
    public let slot: BlockSlot
    /// The largest kernel and expansion of the group.
    public let op: Operator
    let main: Chain
    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var residual = false

    public let engine: Engine

    public init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine, scratch: ScratchPools) {
        self.engine = engine
        output = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
        self.slot = slot
        let chains = OperatorChains(name: name, slot: slot, ops: ops, engine: engine, scratch: scratch)
        (op, main) = (chains.op, chains.main)
    }

    var chains: [Chain] { [main] }

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

    public func graph(into g: inout InferenceGraph, input x: Int, channels c: Int, output: Int, middle: Int, kernel: Int) -> Int {
        let m = main.graph(into: &g, input: x, channels: c, middle: middle, output: output, kernel: kernel)
        guard slot.stride == 1 && c == output else { return m }
        let name = String(main.parameters[0].name.dropLast(".expand.weight".count))
        return g.add(name + ".residual", .add, [x, m], channels: output)
    }

    public func describe(input c: Int, output: Int, middle: Int)
        -> (combine: NetworkDescription.Combine, main: [NetworkDescription.Layer], projection: [NetworkDescription.Layer]?) {
        (slot.stride == 1 && c == output ? .addInputMain : .main, main.describe(input: c, middle: middle, output: output), nil)
    }

    func channelGroups(_ b: inout GroupBuilder, input: Int, middle: ChannelGroup.Role, projects: Bool) {
        b.add(main, reading: input, middle: middle)
    }
}
