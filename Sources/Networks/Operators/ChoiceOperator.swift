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

/// The code of one join of `OperatorPlan` (ShuffleNet, inverted residual, residual, plain):
/// one type holds everything a block of that shape does besides its layer list (which the
/// plan gives): forward and backward, inference-graph nodes, its model.json description and
/// its channel groups. Registered in `makeChoiceOperator`.
protocol JoinedOperator: ChoiceOperator {
    static var join: OperatorPlan.Join { get }
    /// Built from the plan of `ops` (one operator, or a kernel-sharing group) in `slot`.
    init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine, scratch: ScratchPools)
    /// Every chain of layers, in parameter order.
    var chains: [Chain] { get }
    /// Adds the operator's channels to `b`: it reads set `input`; `projects` says whether a
    /// projection branch (when allocated) is part of the block (see `NetworkLayers.channelGroups`).
    func channelGroups(_ b: inout GroupBuilder, input: Int, middle: ChannelGroup.Role, projects: Bool)
}

extension JoinedOperator {
    public var parameters: [Parameter] { chains.flatMap(\.parameters) }
    public var norms: [BatchNorm] { chains.flatMap(\.norms) }
}

/// The operator that runs `ops` (one operator, or the group that shares one set of weights)
/// in `slot`: the registration of every join.
public func makeChoiceOperator(name: String, slot: BlockSlot, ops: [Operator], engine: Engine,
                               scratch: ScratchPools = ScratchPools()) -> any ChoiceOperator {
    makeJoinedOperator(name: name, slot: slot, ops: ops, engine: engine, scratch: scratch)
}

func makeJoinedOperator(name: String, slot: BlockSlot, ops: [Operator], engine: Engine, scratch: ScratchPools) -> any JoinedOperator {
    let type: any JoinedOperator.Type
    switch ops[0].plan.join {
    case .shuffle: type = ShuffleOperator.self
    case .residual: type = InvertedResidualOperator.self
    case .residualReLU: type = ResidualOperator.self
    case .none: type = PlainOperator.self
    }
    precondition(ops.allSatisfy { $0.plan.join == type.join }, "one operator for \(ops)")
    return type.init(name: name, slot: slot, ops: ops, engine: engine, scratch: scratch)
}

/// The chains of a group of operators that share weights, built from the plan of its
/// largest member (largest kernel, and for MobileNetV2 largest expansion).
struct OperatorChains {
    let op: Operator
    let main: Chain
    let projection: Chain?

    init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine, scratch: ScratchPools) {
        precondition(!ops.isEmpty && ops.allSatisfy { $0.family == ops[0].family }, "one operator for \(ops)")
        let kernels = ops.map(\.kernel)
        let op = Operator.largest(of: ops)
        precondition(ops.count == 1 || op.plan.main.contains { $0.elastic }, "kernels of \(op) are not shared: \(ops)")
        self.op = op
        let plan = op.plan
        let widths = plan.join.allocation(slot)
        let middle = ops.map { slot.maxMiddleWidth($0) }.max()!
        let transform = slot.kernelSharing == .transform
        main = Chain(plan.main, name: name + plan.mainPrefix, input: widths.mainInput, middle: middle, output: widths.mainOutput,
                     stride: slot.stride, kernels: kernels, transform: transform, engine: engine, scratch: scratch)
        projection = widths.projectionOutput.map { output in
            Chain(plan.projection, name: name + plan.projectionPrefix, input: slot.inputWidths.max()!, middle: middle, output: output,
                  stride: slot.stride, kernels: kernels, transform: transform, engine: engine, scratch: scratch)
        }
    }
}

extension GroupBuilder {
    /// A branch reading set `input` (no ShuffleNet split): a depthwise layer makes the
    /// channels it reads, a dense layer reads them and makes a new middle set or the block's
    /// output set (`output()`).
    mutating func add(_ chain: Chain, reading input: Int, middle role: ChannelGroup.Role) {
        var current = input
        for layer in chain.pairs {
            switch layer.width {
            case nil:
                produce(current, layer.weight, layer.norm, depthwise: true)
            case .input?:
                consume(current, layer.weight)
                produce(current, layer.weight, layer.norm)
            case .middle?:
                consume(current, layer.weight)
                current = new(role, channels: layer.channels)
                produce(current, layer.weight, layer.norm)
            case .output?:
                consume(current, layer.weight)
                current = output()
                produce(current, layer.weight, layer.norm)
            }
        }
    }
}
