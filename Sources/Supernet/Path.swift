import TensorCore

// The reference SPOS search space of ../shared/bench/peer_torch.py, as values: a path
// picks, for each of the 6 choice blocks, an operator and a middle-width ratio.

/// Operator of a choice block.
public enum BlockChoice: Int, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case shuffle3, shuffle5, shuffle7, xception

    /// Depthwise kernel of the main branch (xception uses 3x3 throughout) and of the
    /// stride-2 projection branch.
    public var kernel: Int {
        switch self {
        case .shuffle3, .xception: return 3
        case .shuffle5: return 5
        case .shuffle7: return 7
        }
    }

    public var description: String {
        switch self {
        case .shuffle3: return "shuffle3"
        case .shuffle5: return "shuffle5"
        case .shuffle7: return "shuffle7"
        case .xception: return "xception"
        }
    }

    public init?(name: String) {
        guard let c = BlockChoice.allCases.first(where: { $0.description == name }) else { return nil }
        self = c
    }
}

/// One block's gene: operator and middle-width ratio in tenths (2, 4, ..., 20).
public struct BlockGene: Hashable, Codable, Sendable {
    public var choice: BlockChoice
    public var ratioTenths: Int

    public init(choice: BlockChoice, ratioTenths: Int) {
        self.choice = choice
        self.ratioTenths = ratioTenths
    }
}

/// Static description of one choice block of the reference network.
public struct BlockSpec: Sendable, Equatable {
    public var inputChannels: Int
    public var outputChannels: Int
    public var stride: Int
    public var inputSize: Int

    public init(inputChannels: Int, outputChannels: Int, stride: Int, inputSize: Int) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.stride = stride
        self.inputSize = inputSize
    }

    public var outputSize: Int { (inputSize + 2 * 1 - 3) / stride + 1 }

    /// Main-branch middle width for a ratio: max(1, floor(base * r10 / 10)), base = out/2.
    public func middleWidth(ratioTenths: Int) -> Int { max(1, (outputChannels / 2 * ratioTenths) / 10) }
}

/// The reference supernet's fixed skeleton (stem 16, stages [32, 64, 128] x 2, head 256).
public struct ReferenceSpace: Sendable, Equatable {
    public var imageSize = 28
    public var inputChannels = 1
    public var stemChannels = 16
    public var stageChannels = [32, 64, 128]
    public var blocksPerStage = 2
    public var finalChannels = 256
    public var classes = 10
    public var ratioTenths = Array(stride(from: 2, through: 20, by: 2))

    public init() {}

    public var blocks: [BlockSpec] {
        var specs: [BlockSpec] = []
        var cin = stemChannels, size = imageSize
        for cout in stageChannels {
            for b in 0..<blocksPerStage {
                let spec = BlockSpec(inputChannels: cin, outputChannels: cout, stride: b == 0 ? 2 : 1, inputSize: size)
                specs.append(spec)
                size = spec.outputSize
                cin = cout
            }
        }
        return specs
    }
}

/// A path through the reference supernet: one gene per block. Text form
/// "shuffle3@1.0 xception@0.4 ..." (ratio in units, one decimal).
public struct Path: Hashable, Codable, Sendable, CustomStringConvertible {
    public var genes: [BlockGene]

    public init(genes: [BlockGene]) { self.genes = genes }

    /// Uniform random path (SPOS): operator and ratio drawn independently per block.
    public static func random(_ space: ReferenceSpace, rng: RNG) -> Path {
        Path(genes: space.blocks.map { _ in
            BlockGene(choice: BlockChoice.allCases[rng.int(below: BlockChoice.allCases.count)],
                      ratioTenths: space.ratioTenths[rng.int(below: space.ratioTenths.count)])
        })
    }

    public var description: String {
        genes.map { "\($0.choice)@\(String(Double($0.ratioTenths) / 10))" }.joined(separator: " ")
    }

    public enum ParseError: Error, CustomStringConvertible {
        case malformed(String)
        public var description: String {
            switch self {
            case let .malformed(m): return "path: \(m)"
            }
        }
    }

    /// Parses the text form; every block needs a gene.
    public init(parsing text: String, space: ReferenceSpace) throws {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        guard parts.count == space.blocks.count else {
            throw ParseError.malformed("expected \(space.blocks.count) genes like 'shuffle3@1.0', got \(parts.count)")
        }
        genes = try parts.map { part in
            let pieces = part.split(separator: "@").map(String.init)
            guard pieces.count == 2, let choice = BlockChoice(name: pieces[0]), let ratio = Double(pieces[1]) else {
                throw ParseError.malformed("'\(part)' is not OPERATOR@RATIO (operators: shuffle3, shuffle5, shuffle7, xception)")
            }
            let tenths = Int((ratio * 10).rounded())
            guard space.ratioTenths.contains(tenths) else {
                throw ParseError.malformed("ratio \(pieces[1]) in '\(part)' is not one of 0.2, 0.4, ..., 2.0")
            }
            return BlockGene(choice: choice, ratioTenths: tenths)
        }
    }
}
