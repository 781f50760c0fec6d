/// The structure of one operator: its layers branch by branch, how its middle width follows
/// the block's widths, and how its branches join. This one value is what an operator family
/// is: the cost model counts it, the networks allocate and name their layers from it, and
/// its join selects the code that runs, folds, describes and groups a block of that shape
/// (`Sources/Networks/Operators/`). A new operator whose branches join as an existing one's
/// is a new `plan` case and its names; a new join is one more file there.
public struct OperatorPlan: Equatable, Sendable {
    /// How a block's output is made from its input x and its branches.
    public enum Join: Equatable, Sendable {
        /// main(x) (a plain convolution, MobileNetV1).
        case none
        /// x + main(x) when the stride is 1 and the widths agree, else main(x) (MobileNetV2).
        case residual
        /// ReLU(x + main(x)) when the stride is 1 and the widths agree, else
        /// ReLU(projection(x) + main(x)) (ResNet basic block).
        case residualReLU
        /// ShuffleNetV2: stride 1 splits x in halves, runs main on the second and interleaves
        /// the halves (channel shuffle); stride 2 concatenates projection(x) and main(x).
        case shuffle
    }

    /// The width a dense convolution writes.
    public enum Width: Equatable, Sendable {
        /// The block's middle width.
        case middle
        /// The branch's output width.
        case output
        /// As many channels as it reads.
        case input
    }

    /// A convolution (no bias) and the BatchNorm after it.
    public struct Layer: Equatable, Sendable {
        public enum Kind: Equatable, Sendable {
            case dense(Width)
            /// One k x k filter per channel: writes as many channels as it reads.
            case depthwise
        }

        public var kind: Kind
        /// Tensor-name suffixes of the convolution and of its BatchNorm (".pw1", ".bn1").
        public var name: String
        public var norm: String
        public var kernel: Int
        /// Whether the layer takes the block's stride (the others run at stride 1).
        public var strided: Bool
        /// Whether the kernel sizes of an operator group share it (elastic depthwise kernel).
        public var elastic: Bool
        /// ReLU after the BatchNorm.
        public var relu: Bool

        static func dense(_ name: String, _ norm: String, kernel: Int = 1, _ width: Width, strided: Bool = false, relu: Bool) -> Layer {
            Layer(kind: .dense(width), name: name, norm: norm, kernel: kernel, strided: strided, elastic: false, relu: relu)
        }

        static func depthwise(_ name: String, _ norm: String, kernel: Int, strided: Bool, elastic: Bool = true, relu: Bool) -> Layer {
            Layer(kind: .depthwise, name: name, norm: norm, kernel: kernel, strided: strided, elastic: elastic, relu: relu)
        }
    }

    /// How the middle width follows the block's widths and a ratio r in tenths.
    public enum Middle: Equatable, Sendable {
        /// max(1, floor(out/2 · r / 10)) (ShuffleNet; SPOS: base_mid = out // 2).
        case halfOutput
        /// max(1, floor(in · e · r / 10)) (MobileNetV2, expansion e).
        case expandedInput(Int)
        /// max(1, floor(out · r / 10)) (ResNet basic: the first convolution's output).
        case ofOutput
        /// The output width: no middle of its own.
        case output
        /// The input width: no middle of its own.
        case input
    }

    public var join: Join
    public var middle: Middle
    /// Name prefix of the main branch ("" or ".main").
    public var mainPrefix: String
    public var main: [Layer]
    /// Name prefix of the projection branch (".proj", ".shortcut").
    public var projectionPrefix: String
    /// The second branch: ShuffleNet's stride-2 half, ResNet's shortcut (empty: none).
    public var projection: [Layer]

    /// The widths one block's branches read and write.
    public struct Branches: Equatable, Sendable {
        public var mainInput: Int
        public var mainOutput: Int
        /// What the projection writes (it reads the block's input); nil: it does not run.
        public var projectionOutput: Int?
    }
}

extension OperatorPlan.Join {
    /// The branch widths of a block of this join reading `input` and writing `output` channels.
    public func branches(input: Int, output: Int, stride: Int) -> OperatorPlan.Branches {
        switch self {
        case .none, .residual:
            return .init(mainInput: input, mainOutput: output, projectionOutput: nil)
        case .residualReLU:
            return .init(mainInput: input, mainOutput: output, projectionOutput: stride != 1 || input != output ? output : nil)
        case .shuffle:
            // Stride 1 keeps the width (validation): the first half passes, the second runs main.
            if stride == 1 { return .init(mainInput: input - input / 2, mainOutput: input / 2, projectionOutput: nil) }
            return .init(mainInput: input, mainOutput: output - input, projectionOutput: input)
        }
    }

    /// The largest branch widths over the slot's input and output choices: what a network
    /// allocates. `projectionOutput` is nil where no candidate of the slot runs the projection.
    public func allocation(_ slot: BlockSlot) -> OperatorPlan.Branches {
        let maxIn = slot.inputWidths.max()!, maxOut = slot.outputWidths.max()!
        switch self {
        case .none, .residual:
            return .init(mainInput: maxIn, mainOutput: maxOut, projectionOutput: nil)
        case .residualReLU:
            // A block after the first of its stage always sees its output width as input.
            let projects = slot.stride != 1
                || (!slot.widthPreserving && slot.inputWidths.contains { i in slot.outputWidths.contains { $0 != i } })
            return .init(mainInput: maxIn, mainOutput: maxOut, projectionOutput: projects ? maxOut : nil)
        case .shuffle:
            if slot.stride == 1 { return .init(mainInput: maxOut / 2, mainOutput: maxOut / 2, projectionOutput: nil) }
            return .init(mainInput: maxIn, mainOutput: maxOut - slot.inputWidths.min()!, projectionOutput: maxIn)
        }
    }

    /// Whether the block adds a shortcut (identity or projection) to its main branch: an
    /// identity shortcut makes its input and output one channel set.
    public var addsShortcut: Bool {
        switch self {
        case .none, .shuffle: return false
        case .residual, .residualReLU: return true
        }
    }
}

extension OperatorPlan.Middle {
    public func width(input: Int, output: Int, ratioTenths r: Int) -> Int {
        switch self {
        case .halfOutput: return max(1, (output / 2 * r) / 10)
        case let .expandedInput(e): return max(1, (input * e * r) / 10)
        case .ofOutput: return max(1, (output * r) / 10)
        case .output: return output
        case .input: return input
        }
    }

    /// Whether the width is the operator's own (pinned by a pruned network's `middle_widths`).
    public var isOwn: Bool {
        switch self {
        case .output, .input: return false
        default: return true
        }
    }
}

extension OperatorPlan {
    /// MACs per image and parameters (weights, BN scale and shift) of `layers` reading
    /// `input` channels at `slot`'s input resolution; a strided layer writes its output size.
    static func cost(_ layers: [Layer], input: Int, middle: Int, output: Int, slot: BlockSlot) -> Cost {
        var c = input, size = slot.inputSize, macs = 0, params = 0
        for layer in layers {
            if layer.strided { size = slot.outputSize }
            let kk = layer.kernel * layer.kernel
            switch layer.kind {
            case let .dense(width):
                let out = width.channels(middle: middle, output: output, input: c)
                macs += kk * c * out * size * size
                params += kk * c * out + 2 * out
                c = out
            case .depthwise:
                macs += kk * c * size * size
                params += kk * c + 2 * c
            }
        }
        return Cost(macs: macs, parameters: params)
    }

    /// Cost of a block of this plan at active widths.
    public func cost(slot: BlockSlot, input: Int, output: Int, middle: Int) -> Cost {
        let b = join.branches(input: input, output: output, stride: slot.stride)
        var total = Self.cost(main, input: b.mainInput, middle: middle, output: b.mainOutput, slot: slot)
        if let p = b.projectionOutput { total = total + Self.cost(projection, input: input, middle: middle, output: p, slot: slot) }
        return total
    }
}

extension OperatorPlan.Width {
    public func channels(middle: Int, output: Int, input: Int) -> Int {
        switch self {
        case .middle: return middle
        case .output: return output
        case .input: return input
        }
    }
}

extension Operator {
    /// The operator's structure (see `OperatorPlan`): the one place its layers are listed.
    public var plan: OperatorPlan {
        typealias L = OperatorPlan.Layer
        switch self {
        case let .shuffle(k):
            return OperatorPlan(join: .shuffle, middle: middle, mainPrefix: ".main", main: [
                L.dense(".pw1", ".bn1", .middle, relu: true),
                L.depthwise(".dw", ".bn2", kernel: k, strided: true, relu: false),
                L.dense(".pw2", ".bn3", .output, relu: true),
            ], projectionPrefix: ".proj", projection: Self.shuffleProjection(kernel: k))
        case .xception:
            return OperatorPlan(join: .shuffle, middle: middle, mainPrefix: ".main", main: [
                L.depthwise(".dw1", ".bn1", kernel: 3, strided: true, elastic: false, relu: false),
                L.dense(".pw1", ".bn2", .middle, relu: true),
                L.depthwise(".dw2", ".bn3", kernel: 3, strided: false, elastic: false, relu: false),
                L.dense(".pw2", ".bn4", .middle, relu: true),
                L.depthwise(".dw3", ".bn5", kernel: 3, strided: false, elastic: false, relu: false),
                L.dense(".pw3", ".bn6", .output, relu: true),
            ], projectionPrefix: ".proj", projection: Self.shuffleProjection(kernel: 3))
        case let .invertedResidual(k, _):
            return OperatorPlan(join: .residual, middle: middle, mainPrefix: "", main: [
                L.dense(".expand", ".bn1", .middle, relu: true),
                L.depthwise(".dw", ".bn2", kernel: k, strided: true, relu: true),
                L.dense(".project", ".bn3", .output, relu: false),
            ], projectionPrefix: "", projection: [])
        case let .conv(k):
            return OperatorPlan(join: .none, middle: middle, mainPrefix: "", main: [
                L.dense(".conv", ".bn", kernel: k, .output, strided: true, relu: true),
            ], projectionPrefix: "", projection: [])
        case .basic:
            return OperatorPlan(join: .residualReLU, middle: middle, mainPrefix: "", main: [
                L.dense(".conv1", ".bn1", kernel: 3, .middle, strided: true, relu: true),
                L.dense(".conv2", ".bn2", kernel: 3, .output, relu: false),
            ], projectionPrefix: ".shortcut", projection: [
                L.dense(".conv", ".bn", .output, strided: true, relu: false),
            ])
        case let .separable(k):
            return OperatorPlan(join: .none, middle: middle, mainPrefix: "", main: [
                L.depthwise(".dw", ".bn1", kernel: k, strided: true, relu: true),
                L.dense(".pw", ".bn2", .output, relu: true),
            ], projectionPrefix: "", projection: [])
        }
    }

    /// The operator whose layers serve a group sharing one set of weights: the largest
    /// kernel, and for MobileNetV2 also the largest expansion.
    public static func largest(of ops: [Operator]) -> Operator {
        let op = ops.max { $0.kernel < $1.kernel }!
        guard case .invertedResidual = op else { return op }
        let expansions = ops.map { op -> Int in if case let .invertedResidual(_, e) = op { return e }; return 1 }
        return .invertedResidual(kernel: op.kernel, expansion: expansions.max()!)
    }

    /// How the operator's middle width follows the block's (`plan.middle`, without building the layers).
    public var middle: OperatorPlan.Middle {
        switch self {
        case .shuffle, .xception: return .halfOutput
        case let .invertedResidual(_, e): return .expandedInput(e)
        case .basic: return .ofOutput
        case .conv: return .output
        case .separable: return .input
        }
    }

    /// ShuffleNetV2's stride-2 branch: depthwise k (stride 2) + BN, 1x1 + BN + ReLU.
    private static func shuffleProjection(kernel k: Int) -> [OperatorPlan.Layer] {
        [OperatorPlan.Layer.depthwise(".dw", ".bn1", kernel: k, strided: true, relu: false),
         OperatorPlan.Layer.dense(".pw", ".bn2", .input, relu: true)]
    }
}
