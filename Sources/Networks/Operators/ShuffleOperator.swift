import Layers
import Spaces
import TensorCore

/// ShuffleNetV2 choice block (SPOS): shuffle-k or xception main branch (`OperatorPlan.Join.shuffle`).
///   width-preserving, stride 1: a, b = split(x); y = shuffle(concat(a, main(b)))
///   otherwise (stride 2):      y = concat(proj(x), main(x)), main makes out - in channels
/// Given several shuffle kernels (kernel sharing), one set of layers serves them all: the
/// depthwise layers are elastic, allocated at the largest kernel.
public final class ShuffleOperator: JoinedOperator {
    static let join = OperatorPlan.Join.shuffle
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

    public init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine, scratch: ScratchPools) {
        self.engine = engine
        gradInputBuffer = scratch.gradientBuffer()
        concat = ChannelConcat(engine: engine, scratch: scratch)
        interleave = ChannelInterleave(engine: engine, scratch: scratch)
        self.slot = slot
        let chains = OperatorChains(name: name, slot: slot, ops: ops, engine: engine, scratch: scratch)
        (op, main, projection) = (chains.op, chains.main, chains.projection)
    }

    var chains: [Chain] { (projection.map { [$0] } ?? []) + [main] }

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

    public func graph(into g: inout InferenceGraph, input x: Int, channels c: Int, output: Int, middle: Int, kernel: Int) -> Int {
        let name = String(main.parameters[0].name.split(separator: ".main.")[0])
        if let projection {
            let p = projection.graph(into: &g, input: x, channels: c, middle: middle, output: c, kernel: kernel)
            let m = main.graph(into: &g, input: x, channels: c, middle: middle, output: output - c, kernel: kernel)
            return g.add(name + ".concat", .concat, [p, m], channels: output)
        }
        let half = c / 2
        let a = g.add(name + ".split0", .slice(lower: 0, upper: half), [x], channels: half)
        let b = g.add(name + ".split1", .slice(lower: half, upper: c), [x], channels: c - half)
        let m = main.graph(into: &g, input: b, channels: c - half, middle: middle, output: half, kernel: kernel)
        return g.add(name + ".shuffle", .interleave, [a, m], channels: output)
    }

    public func describe(input c: Int, output: Int, middle: Int)
        -> (combine: NetworkDescription.Combine, main: [NetworkDescription.Layer], projection: [NetworkDescription.Layer]?) {
        if let projection {
            return (.concatProjectionMain, main.describe(input: c, middle: middle, output: output - c),
                    projection.describe(input: c, middle: middle, output: c))
        }
        return (.splitMainInterleave, main.describe(input: c - c / 2, middle: middle, output: c / 2), nil)
    }

    func channelGroups(_ b: inout GroupBuilder, input current: Int, middle mid: ChannelGroup.Role, projects: Bool) {
        // The split and the shuffle fix where every stage channel goes: only the main
        // branch's middle sets (between its 1x1 convolutions) can change.
        b.freeze(current)
        var inner: Int?
        let lastDense = main.pairs.last(where: { !$0.depthwise })!.weight
        for layer in main.pairs {
            if layer.depthwise {
                if let inner { b.produce(inner, layer.weight, layer.norm, depthwise: true) }
            } else {
                if let inner { b.consume(inner, layer.weight) }
                inner = layer.weight == lastDense ? nil : b.new(mid, channels: layer.channels)
                if let inner { b.produce(inner, layer.weight, layer.norm) }
            }
        }
        b.freeze(b.output())
    }
}
