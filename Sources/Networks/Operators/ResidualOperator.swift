import Layers
import Spaces
import TensorCore

/// A plain chain: one k x k convolution + BN + ReLU (`conv`), or MobileNetV1's depthwise k
/// + BN + ReLU, 1x1 + BN + ReLU (`separable`). The block's output is the chain's.
/// Several separable kernels of a slot (kernel sharing) share one elastic depthwise layer.
public final class PlainOperator: ChoiceOperator {
    public let slot: BlockSlot
    /// The largest kernel of the group.
    public let op: Operator
    let main: Chain
    public let engine: Engine

    public init(name: String, slot: BlockSlot, ops: [Operator], engine: Engine) {
        let op = ops.max { $0.kernel < $1.kernel }!
        self.slot = slot
        self.op = op
        self.engine = engine
        let maxIn = slot.inputWidths.max()!, maxOut = slot.outputWidths.max()!
        switch op {
        case let .conv(k):
            precondition(ops.count == 1, "dense kernels are not shared: \(ops)")
            main = Chain([
                .conv(Conv2D(name: name + ".conv", inputChannels: maxIn, outputChannels: maxOut, kernel: k, stride: slot.stride, engine: engine), .output),
                .norm(BatchNorm(name: name + ".bn", channels: maxOut, relu: true, engine: engine)),
            ])
        case let .separable(k):
            precondition(ops.allSatisfy { if case .separable = $0 { return true } else { return false } }, "PlainOperator for \(ops)")
            main = Chain([
                .depthwise(DepthwiseConv2D(name: name + ".dw", channels: maxIn, kernel: k, stride: slot.stride, kernelSizes: ops.map(\.kernel),
                                           learnedTransform: slot.kernelSharing == .transform, engine: engine)),
                .norm(BatchNorm(name: name + ".bn1", channels: maxIn, relu: true, engine: engine)),
                .conv(Conv2D(name: name + ".pw", inputChannels: maxIn, outputChannels: maxOut, kernel: 1, engine: engine), .output),
                .norm(BatchNorm(name: name + ".bn2", channels: maxOut, relu: true, engine: engine)),
            ])
        default:
            preconditionFailure("PlainOperator for \(op)")
        }
    }

    public var parameters: [Parameter] { main.parameters }
    public var norms: [BatchNorm] { main.norms }

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
}

/// ResNet basic block: y = ReLU(main(x) + shortcut(x)), main = 3x3 conv (stride s) + BN +
/// ReLU, 3x3 conv + BN; the shortcut is x itself when stride is 1 and the widths agree, else
/// a 1x1 convolution (stride s) + BN. The middle width (the first convolution's output) is
/// the block's own channel group; the output width is its stage's (the additions couple it).
public final class ResidualOperator: ChoiceOperator {
    public let slot: BlockSlot
    public let op = Operator.basic
    let main: Chain
    /// Allocated when some input/output pair of the slot (or its stride) needs it.
    let projection: Chain?
    private let output: ScratchBuffer
    private let gradSum: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var savedOutput: FeatureMap?
    private var projected = false
    public let engine: Engine

    public init(name: String, slot: BlockSlot, engine: Engine) {
        self.slot = slot
        self.engine = engine
        output = engine.scratch()
        gradSum = engine.gradientScratch()
        gradInputBuffer = engine.gradientScratch()
        let maxIn = slot.inputWidths.max()!, maxOut = slot.outputWidths.max()!
        let maxMid = slot.maxMiddleWidth(.basic)
        main = Chain([
            .conv(Conv2D(name: name + ".conv1", inputChannels: maxIn, outputChannels: maxMid, kernel: 3, stride: slot.stride, engine: engine), .middle),
            .norm(BatchNorm(name: name + ".bn1", channels: maxMid, relu: true, engine: engine)),
            .conv(Conv2D(name: name + ".conv2", inputChannels: maxMid, outputChannels: maxOut, kernel: 3, engine: engine), .output),
            .norm(BatchNorm(name: name + ".bn2", channels: maxOut, engine: engine)),
        ])
        // A block after the first of its stage always sees its output width as input.
        let needsProjection = slot.stride != 1 || (!slot.widthPreserving && slot.inputWidths.contains { i in slot.outputWidths.contains { $0 != i } })
        projection = needsProjection ? Chain([
            .conv(Conv2D(name: name + ".shortcut.conv", inputChannels: maxIn, outputChannels: maxOut, kernel: 1, stride: slot.stride, engine: engine), .output),
            .norm(BatchNorm(name: name + ".shortcut.bn", channels: maxOut, engine: engine)),
        ]) : nil
    }

    public var parameters: [Parameter] { main.parameters + (projection?.parameters ?? []) }
    public var norms: [BatchNorm] { main.norms + (projection?.norms ?? []) }

    func usesProjection(input: Int, output: Int) -> Bool { slot.stride != 1 || input != output }

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
        let name = String(main.parameters[0].name.dropLast(".conv1.weight".count))
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
}
