import Networks
import Spaces
import TensorCore

/// How training picks the path of each step.
public enum SamplingStrategy: Equatable, Sendable, Codable, CustomStringConvertible {
    /// SPOS: width, operator and ratio uniform and independent per step.
    case uniform
    /// Uniform, rejected until the MACs fall inside the band (what SPOS's code does).
    case flopsBand(minMACs: Int, maxMACs: Int)
    /// FairNAS strict fairness: in each round of K steps (K = most operators of any
    /// block), every block uses each of its operators exactly once; widths and ratios uniform.
    case fair
    /// BigNAS sandwich: a repeating cycle of largest, smallest, random.
    case sandwich
    /// BigNAS / OFA in-place distillation, the full sandwich every step: the largest path
    /// on the labels, then the smallest and `random` random paths on the largest's soft
    /// outputs; gradients summed, one update (about 2 + random paths' compute per step).
    case distill(random: Int)

    public var description: String {
        switch self {
        case .uniform: return "uniform"
        case let .flopsBand(lo, hi): return "flops-band:\(lo)-\(hi)"
        case .fair: return "fair"
        case .sandwich: return "sandwich"
        case let .distill(r): return r == 2 ? "distill" : "distill:\(r)"
        }
    }

    /// The inverse of `description`; flops-band also takes counts such as 1.5M-3M.
    public init?(parsing text: String, count: (String) -> Int? = { Int($0) }) {
        switch text {
        case "uniform": self = .uniform
        case "fair": self = .fair
        case "sandwich": self = .sandwich
        case "distill": self = .distill(random: 2)
        default:
            if text.hasPrefix("distill:"), let r = Int(text.dropFirst(8)), (0...8).contains(r) { self = .distill(random: r); return }
            let parts = text.hasPrefix("flops-band:") ? text.dropFirst(11).split(separator: "-").map(String.init) : []
            guard parts.count == 2, let lo = count(parts[0]), let hi = count(parts[1]) else { return nil }
            self = .flopsBand(minMACs: lo, maxMACs: hi)
        }
    }

    public static let nameHelp = "uniform, fair, sandwich, distill[:RANDOM 0-8] or flops-band:MIN-MAX (e.g. flops-band:1.5M-3M)"
}

public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case emptyBand(minMACs: Int, maxMACs: Int, cheapest: Int, dearest: Int)
    case bandTooNarrow(minMACs: Int, maxMACs: Int, tries: Int)

    public var description: String {
        switch self {
        case let .emptyBand(lo, hi, cheapest, dearest):
            return "FLOPs band \(lo)...\(hi) MACs misses the space (cheapest candidate \(cheapest), dearest \(dearest))"
        case let .bandTooNarrow(lo, hi, tries):
            return "FLOPs band \(lo)...\(hi) MACs: no candidate in \(tries) uniform draws; widen the band"
        }
    }
}

/// Draws training paths by a strategy. Its only state besides the RNG is the position in
/// a fairness round or sandwich cycle, captured in `state` for checkpoints.
public final class ArchitectureSampler {
    public let space: SearchSpace
    public let strategy: SamplingStrategy
    /// Fair: per block, this round's operator order; sandwich: unused.
    public private(set) var roundOrder: [[Int]] = []
    /// Steps taken in the current round / cycle.
    public private(set) var position = 0
    public static let maxTries = 10_000

    public init(space: SearchSpace, strategy: SamplingStrategy) throws {
        self.space = space
        self.strategy = strategy
        if case let .flopsBand(lo, hi) = strategy {
            let cheapest = space.cost(space.smallest).macs, dearest = space.cost(space.largest).macs
            guard lo <= hi, hi >= cheapest, lo <= dearest else {
                throw SamplingError.emptyBand(minMACs: lo, maxMACs: hi, cheapest: cheapest, dearest: dearest)
            }
        }
    }

    public struct State: Codable, Equatable, Sendable {
        public var roundOrder: [[Int]]
        public var position: Int
    }

    public var state: State { State(roundOrder: roundOrder, position: position) }
    public func restore(_ s: State) { roundOrder = s.roundOrder; position = s.position }

    private var roundLength: Int { space.blocks.map(\.operators.count).max() ?? 1 }

    public func next(rng: RNG) throws -> Architecture {
        switch strategy {
        case .uniform:
            return space.randomArchitecture(rng)
        case let .flopsBand(lo, hi):
            for _ in 0..<Self.maxTries {
                let a = space.randomArchitecture(rng)
                let m = space.cost(a).macs
                if m >= lo && m <= hi { return a }
            }
            throw SamplingError.bandTooNarrow(minMACs: lo, maxMACs: hi, tries: Self.maxTries)
        case .fair:
            if position == 0 || roundOrder.isEmpty {
                roundOrder = space.blocks.map { slot in
                    // Each operator once per round; blocks with fewer operators than the round
                    // is long repeat a fresh permutation.
                    var order: [Int] = []
                    while order.count < roundLength { order += rng.permutation(slot.operators.count) }
                    return Array(order.prefix(roundLength))
                }
            }
            var a = space.randomArchitecture(rng)
            for (b, slot) in space.blocks.enumerated() where !a.genes[b].skipped { a.genes[b].op = slot.operators[roundOrder[b][position]] }
            position = (position + 1) % roundLength
            return a
        case .distill:
            return space.randomArchitecture(rng)
        case .sandwich:
            defer { position = (position + 1) % 3 }
            switch position {
            case 0: return space.largest
            case 1: return space.smallest
            default: return space.randomArchitecture(rng)
            }
        }
    }

    /// The paths of one step: the teacher first, then the students (`distill`), or one path.
    public func nextPaths(rng: RNG) throws -> [Architecture] {
        guard case let .distill(random) = strategy else { return [try next(rng: rng)] }
        return [space.largest, space.smallest] + (0..<random).map { _ in space.randomArchitecture(rng) }
    }
}

/// Once-for-All's progressive shrinking as a schedule over any sampling strategy: the
/// largest network alone first, then the depthwise kernel opens (a block may run any
/// operator of its largest operator's family: shuffle3/5/7, mbconv kernels/expansions),
/// then widths and middle ratios, then every operator. Each stage starts at an epoch.
public struct ProgressiveShrinking: Codable, Equatable, Sendable, CustomStringConvertible {
    public var kernelEpoch: Int
    public var widthEpoch: Int
    public var operatorEpoch: Int

    public init(kernelEpoch: Int, widthEpoch: Int, operatorEpoch: Int) {
        self.kernelEpoch = kernelEpoch; self.widthEpoch = widthEpoch; self.operatorEpoch = operatorEpoch
    }

    public var description: String { "\(kernelEpoch),\(widthEpoch),\(operatorEpoch)" }

    /// `a` narrowed to what is open at `epoch` (0-based): closed choices take the largest
    /// architecture's value; an open kernel draws an operator of the largest's family.
    /// Elastic depth opens with the widths (every block runs before).
    public func restrict(_ a: Architecture, epoch: Int, space: SearchSpace, rng: RNG) -> Architecture {
        guard epoch < operatorEpoch else { return a }
        let largest = space.largest
        var r = a
        if epoch < widthEpoch { r.widths = largest.widths }
        for (b, slot) in space.blocks.enumerated() {
            let top = largest.genes[b]
            if r.genes[b].skipped {
                guard epoch < widthEpoch else { continue }
                r.genes[b] = top
            }
            if epoch < widthEpoch { r.genes[b].ratioTenths = top.ratioTenths }
            if epoch < kernelEpoch {
                r.genes[b].op = top.op
            } else if r.genes[b].op.family != top.op.family {
                let family = slot.operators.filter { $0.family == top.op.family }
                r.genes[b].op = family[rng.int(below: family.count)]
            }
        }
        return r
    }
}
