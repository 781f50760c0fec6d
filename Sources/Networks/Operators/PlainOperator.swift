import Layers
import Spaces
import TensorCore

/// A plain chain (`OperatorPlan.Join.none`): one k x k convolution + BN + ReLU (`conv`), or
/// MobileNetV1's depthwise k + BN + ReLU, 1x1 + BN + ReLU (`separable`). The block's output
/// is the chain's. Several separable kernels of a slot (kernel sharing) share one elastic
/// depthwise layer.
public final class PlainOperator: JoinedOperator {
    static let join = OperatorPlan.Join.none
    public let slot: BlockSlot
    /// The largest kernel of the group.
    public let op: Operator
    let main: Chain
    public let engine: Engine

    public init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine, scratch: ScratchPools) {
        self.slot = slot
        self.engine = engine
        let chains = OperatorChains(name: name, slot: slot, ops: ops, engine: engine, scratch: scratch)
        (op, main) = (chains.op, chains.main)
    }

    var chains: [Chain] { [main] }

    public func forward(_ x: FeatureMap, output: Int, middle: Int, kernel: Int, mode: Mode) -> FeatureMap {
        main.forward(x, middle: middle, output: output, kernel: kernel, mode: mode)
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap { main.backward(dy) }

    public func graph(into g: inout InferenceGraph, input: Int, channels: Int, output: Int, middle: Int, kernel: Int) -> Int {
        main.graph(into: &g, input: input, channels: channels, middle: middle, output: output, kernel: kernel)
    }

    public func describe(input: Int, output: Int, middle: Int)
        -> (combine: NetworkDescription.Combine, main: [NetworkDescription.Layer], projection: [NetworkDescription.Layer]?) {
        (.main, main.describe(input: input, middle: middle, output: output), nil)
    }

    func channelGroups(_ b: inout GroupBuilder, input: Int, middle: ChannelGroup.Role, projects: Bool) {
        b.add(main, reading: input, middle: middle)
    }
}
