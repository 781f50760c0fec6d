/// A candidate operator of a choice block.
///  - `shuffle(kernel:)`: ShuffleNetV2 block (SPOS "shuffle-k"): 1x1, depthwise k, 1x1.
///  - `xception`: ShuffleNetV2 Xception block: three depthwise 3x3 + 1x1 pairs.
///  - `invertedResidual(kernel:expansion:)`: MobileNetV2 block: 1x1 expand, depthwise k,
///    1x1 project (no ReLU after the projection), identity shortcut when shapes allow.
/// Classic networks, so that a fixed network is a space with one choice per block:
///  - `conv(kernel:)`: a plain k x k convolution + BN + ReLU (VGG-style layer).
///  - `basic`: ResNet basic block: 3x3 conv + BN + ReLU, 3x3 conv + BN, added to the
///    input (or to a 1x1 conv + BN projection of it when stride or width change), ReLU.
///  - `separable(kernel:)`: MobileNetV1 block: depthwise k + BN + ReLU, 1x1 + BN + ReLU.
public enum Operator: Hashable, Sendable, CustomStringConvertible {
    case shuffle(kernel: Int)
    case xception
    case invertedResidual(kernel: Int, expansion: Int)
    case conv(kernel: Int)
    case basic
    case separable(kernel: Int)

    public static let kernels = [3, 5, 7]

    /// Depthwise kernel of the main branch (and of the stride-2 projection branch).
    public var kernel: Int {
        switch self {
        case let .shuffle(k): return k
        case .xception: return 3
        case let .invertedResidual(k, _): return k
        case let .conv(k): return k
        case .basic: return 3
        case let .separable(k): return k
        }
    }

    /// Names in files and on the command line: shuffle3, shuffle5, shuffle7, xception,
    /// mbconv3_e3, mbconv5_e6, ... (kernel 3/5/7, expansion 1-8), conv3/5/7, basic, dwsep3/5/7.
    public var description: String {
        switch self {
        case let .shuffle(k): return "shuffle\(k)"
        case .xception: return "xception"
        case let .invertedResidual(k, e): return "mbconv\(k)_e\(e)"
        case let .conv(k): return "conv\(k)"
        case .basic: return "basic"
        case let .separable(k): return "dwsep\(k)"
        }
    }

    public init?(name: String) {
        if name == "xception" { self = .xception; return }
        if name == "basic" { self = .basic; return }
        for (prefix, make) in [("conv", Operator.conv), ("dwsep", Operator.separable)] where name.hasPrefix(prefix) {
            if let k = Int(name.dropFirst(prefix.count)), Operator.kernels.contains(k) { self = make(k); return }
        }
        if name.hasPrefix("shuffle"), let k = Int(name.dropFirst(7)), Operator.kernels.contains(k) {
            self = .shuffle(kernel: k); return
        }
        if name.hasPrefix("mbconv") {
            let parts = name.dropFirst(6).split(separator: "_")
            if parts.count == 2, let k = Int(parts[0]), Operator.kernels.contains(k),
               parts[1].hasPrefix("e"), let e = Int(parts[1].dropFirst()), (1...8).contains(e) {
                self = .invertedResidual(kernel: k, expansion: e); return
            }
        }
        return nil
    }

    public static let nameHelp = "shuffle3/5/7, xception, mbconvK_eE (K in 3/5/7, E in 1...8), convK, basic or dwsepK"

    /// The operator's case without its parameters: what a test enumerates to run every
    /// operator through every path (a new case cannot be added without one here).
    public enum Kind: CaseIterable, Sendable {
        case shuffle, xception, invertedResidual, conv, basic, separable

        /// Operators of the kind that one block can hold together (a family's kernels and
        /// expansions, shared under kernel sharing).
        public var examples: [Operator] {
            switch self {
            case .shuffle: return [.shuffle(kernel: 3), .shuffle(kernel: 5)]
            case .xception: return [.xception]
            case .invertedResidual: return [.invertedResidual(kernel: 3, expansion: 3), .invertedResidual(kernel: 5, expansion: 6)]
            case .conv: return [.conv(kernel: 3)]
            case .basic: return [.basic]
            case .separable: return [.separable(kernel: 3), .separable(kernel: 5)]
            }
        }
    }

    public var kind: Kind {
        switch self {
        case .shuffle: return .shuffle
        case .xception: return .xception
        case .invertedResidual: return .invertedResidual
        case .conv: return .conv
        case .basic: return .basic
        case .separable: return .separable
        }
    }
}

/// Whether a block's operators that differ only in depthwise kernel (shuffle3/5/7; for
/// MobileNetV2 also in expansion) share one set of weights (Once-for-All's elastic kernel
/// and elastic width) or each own theirs (plain SPOS).
public enum KernelSharing: String, Codable, Sendable, CaseIterable {
    /// Every operator owns its weights.
    case separate = "none"
    /// One operator per family: every layer shared, a k x k kernel is the centre of the
    /// largest one, a smaller expansion a leading slice of the middle channels.
    case centreCrop = "crop"
    /// As `centreCrop`, each smaller kernel also multiplied by a learned per-layer matrix.
    case transform

    public static let nameHelp = "none, crop or transform"
}

extension Operator {
    /// Operators of one family share weights under kernel sharing: the ShuffleNet kernels,
    /// Xception alone, every MobileNetV2 kernel and expansion.
    public var family: String {
        switch self {
        case .shuffle: return "shuffle"
        case .xception: return "xception"
        case .invertedResidual: return "mbconv"
        // Dense kernels are not elastic: each size keeps its own weights.
        case .conv: return description
        case .basic: return "basic"
        case .separable: return "dwsep"
        }
    }
}
