import Layers
import TensorCore

/// One candidate operator of one choice block at maximum width (every (block, operator)
/// owns its weights, as in SPOS). Computes the whole block output for that operator.
///   stride 1: a, b = split(x); y = shuffle(concat(a, main(b)))
///   stride 2: y = concat(proj(x), main(x))
public final class ChoiceOperator: ParameterContainer {
    public let spec: BlockSpec
    public let choice: BlockChoice
    let main: Chain
    let projection: Chain?
    private let concat = ChannelConcat()
    private let interleave = ChannelInterleave()
    private let gradInputBuffer = ScratchBuffer()

    public init(name: String, spec: BlockSpec, choice: BlockChoice) {
        self.spec = spec
        self.choice = choice
        let maxMid = spec.outputChannels
        let s = spec.stride
        let mIn = s == 1 ? spec.outputChannels / 2 : spec.inputChannels
        let mOut = s == 1 ? spec.outputChannels / 2 : spec.outputChannels - spec.inputChannels
        let k = choice.kernel
        let m = name + ".main"
        if choice == .xception {
            main = Chain([
                .depthwise(DepthwiseConv2D(name: m + ".dw1", channels: mIn, kernel: 3, stride: s)),
                .norm(BatchNorm(name: m + ".bn1", channels: mIn)),
                .conv(Conv2D(name: m + ".pw1", inputChannels: mIn, outputChannels: maxMid, kernel: 1), .middle),
                .norm(BatchNorm(name: m + ".bn2", channels: maxMid, relu: true)),
                .depthwise(DepthwiseConv2D(name: m + ".dw2", channels: maxMid, kernel: 3)),
                .norm(BatchNorm(name: m + ".bn3", channels: maxMid)),
                .conv(Conv2D(name: m + ".pw2", inputChannels: maxMid, outputChannels: maxMid, kernel: 1), .middle),
                .norm(BatchNorm(name: m + ".bn4", channels: maxMid, relu: true)),
                .depthwise(DepthwiseConv2D(name: m + ".dw3", channels: maxMid, kernel: 3)),
                .norm(BatchNorm(name: m + ".bn5", channels: maxMid)),
                .conv(Conv2D(name: m + ".pw3", inputChannels: maxMid, outputChannels: mOut, kernel: 1), .fixed(mOut)),
                .norm(BatchNorm(name: m + ".bn6", channels: mOut, relu: true)),
            ])
        } else {
            main = Chain([
                .conv(Conv2D(name: m + ".pw1", inputChannels: mIn, outputChannels: maxMid, kernel: 1), .middle),
                .norm(BatchNorm(name: m + ".bn1", channels: maxMid, relu: true)),
                .depthwise(DepthwiseConv2D(name: m + ".dw", channels: maxMid, kernel: k, stride: s)),
                .norm(BatchNorm(name: m + ".bn2", channels: maxMid)),
                .conv(Conv2D(name: m + ".pw2", inputChannels: maxMid, outputChannels: mOut, kernel: 1), .fixed(mOut)),
                .norm(BatchNorm(name: m + ".bn3", channels: mOut, relu: true)),
            ])
        }
        if s == 2 {
            let c = spec.inputChannels, p = name + ".proj"
            projection = Chain([
                .depthwise(DepthwiseConv2D(name: p + ".dw", channels: c, kernel: k, stride: 2)),
                .norm(BatchNorm(name: p + ".bn1", channels: c)),
                .conv(Conv2D(name: p + ".pw", inputChannels: c, outputChannels: c, kernel: 1), .fixed(c)),
                .norm(BatchNorm(name: p + ".bn2", channels: c, relu: true)),
            ])
        } else {
            projection = nil
        }
    }

    public var parameters: [Parameter] { (projection?.parameters ?? []) + main.parameters }
    public var norms: [BatchNorm] { (projection?.norms ?? []) + main.norms }

    /// The block output for this operator with middle width `middle`.
    public func forward(_ x: FeatureMap, middle: Int, mode: Mode) -> FeatureMap {
        if let projection {
            let p = projection.forward(x, middle: middle, mode: mode)
            let m = main.forward(x, middle: middle, mode: mode)
            return Profiler.measure(.channelOps) { concat.forward([p, m]) }
        }
        let half = x.channels / 2
        let a = x.channels(0..<half)
        let m = main.forward(x.channels(half..<x.channels), middle: middle, mode: mode)
        return Profiler.measure(.channelOps) { interleave.forward(a, m) }
    }

    /// Backward of the last `.training` forward: accumulates parameter gradients, returns dX.
    public func backward(_ dy: FeatureMap) -> FeatureMap {
        let dx = gradInputBuffer.featureMap(channels: spec.inputChannels, height: spec.inputSize,
                                            width: spec.inputSize, batch: dy.batch)
        if let projection {
            let parts = concat.backward(dy)
            let dp = projection.backward(parts[0])
            let dm = main.backward(parts[1])
            Profiler.measure(.channelOps) {
                Elementwise.copy(dp.pointer, dx.pointer, count: dx.count)
                Elementwise.add(dm.pointer, into: dx.pointer, count: dx.count)
            }
            return dx
        }
        let half = dx.channels / 2
        // The passthrough half's gradient goes straight into dx; the main branch's is split out.
        let dm = Profiler.measure(.channelOps) { interleave.backward(dy, gradFirst: dx.channels(0..<half)) }
        let db = main.backward(dm)
        Profiler.measure(.channelOps) {
            Elementwise.copy(db.pointer, dx.channels(half..<dx.channels).pointer, count: db.count)
        }
        return dx
    }
}

/// A choice block: its four candidate operators.
final class ChoiceBlock: ParameterContainer {
    let spec: BlockSpec
    let operators: [ChoiceOperator]
    private var lastChoice: BlockChoice?

    init(name: String, spec: BlockSpec) {
        self.spec = spec
        operators = BlockChoice.allCases.map { ChoiceOperator(name: "\(name).ops.\($0.rawValue)", spec: spec, choice: $0) }
    }

    var parameters: [Parameter] { operators.flatMap(\.parameters) }
    var norms: [BatchNorm] { operators.flatMap(\.norms) }

    func forward(_ x: FeatureMap, gene: BlockGene, mode: Mode) -> FeatureMap {
        lastChoice = gene.choice
        return operators[gene.choice.rawValue].forward(x, middle: spec.middleWidth(ratioTenths: gene.ratioTenths), mode: mode)
    }

    func backward(_ dy: FeatureMap) -> FeatureMap {
        guard let c = lastChoice else { preconditionFailure("choice block: backward without forward") }
        return operators[c.rawValue].backward(dy)
    }
}
