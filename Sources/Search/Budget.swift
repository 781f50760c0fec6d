import Spaces

/// Hard limits a candidate must meet before it is ever scored.
public struct Budget: Codable, Equatable, Sendable, CustomStringConvertible {
    public var maxMACs: Int?
    public var maxParameters: Int?
    /// Predicted latency in milliseconds (from a latency model).
    public var maxLatencyMs: Double?
    /// A floor on MACs: the search spends the budget rather than drifting to small candidates
    /// whose inherited scores happen to be as high (under a 3 M limit, the deep space's search
    /// picked 2.0 M MACs without one: docs/supernet-quality.md).
    public var minMACs: Int?
    /// A floor on parameters: under a MACs limit, inherited scores favour small models that
    /// train fast early over ones with more capacity (docs/supernet-quality.md).
    public var minParameters: Int?
    /// Edge devices (`EdgeCost`): the most int8 activation bytes held at once (SRAM) and
    /// the bytes of the int8 model file's payload (flash).
    public var maxPeakMemoryBytes: Int?
    public var maxFlashBytes: Int?

    public init(maxMACs: Int? = nil, maxParameters: Int? = nil, maxLatencyMs: Double? = nil, minMACs: Int? = nil,
                minParameters: Int? = nil, maxPeakMemoryBytes: Int? = nil, maxFlashBytes: Int? = nil) {
        self.maxMACs = maxMACs
        self.maxParameters = maxParameters
        self.maxLatencyMs = maxLatencyMs
        self.minMACs = minMACs
        self.minParameters = minParameters
        self.maxPeakMemoryBytes = maxPeakMemoryBytes
        self.maxFlashBytes = maxFlashBytes
    }

    /// Whether the budget limits an edge cost (so candidates carry theirs).
    public var limitsEdgeCost: Bool { maxPeakMemoryBytes != nil || maxFlashBytes != nil }

    public var description: String { spelled { String($0) } }

    /// The same in readable units (MACs <= 3.00 M), for titles and logs.
    public var readable: String { spelled { readableCount(Double($0)) } }

    private func spelled(_ count: (Int) -> String) -> String {
        var parts: [String] = []
        if let m = minMACs { parts.append("MACs >= \(count(m))") }
        if let m = maxMACs { parts.append("MACs <= \(count(m))") }
        if let p = minParameters { parts.append("params >= \(count(p))") }
        if let p = maxParameters { parts.append("params <= \(count(p))") }
        if let l = maxLatencyMs { parts.append("latency <= \(l) ms") }
        if let b = maxPeakMemoryBytes { parts.append("peak memory <= \(readableBytes(b))") }
        if let b = maxFlashBytes { parts.append("flash <= \(readableBytes(b))") }
        return parts.isEmpty ? "no budget" : parts.joined(separator: ", ")
    }
}

/// Predicted latency of an architecture in milliseconds (a measured per-layer table).
public protocol LatencyModel {
    func latencyMs(_ arch: Architecture) -> Double
}

/// Scores a candidate (higher is better, e.g. validation accuracy with inherited weights).
/// The search sees the network only through this protocol.
public protocol CandidateEvaluator: AnyObject {
    func score(_ arch: Architecture) throws -> Double
    /// Scores `archs`, calling `each` with every index and score in order (the default: one
    /// at a time; a distributed evaluator spreads a generation over the job's ranks).
    func scores(_ archs: [Architecture], each: (Int, Double) throws -> Void) throws
    /// How scores are made, if the evaluator can say (kept in the search state).
    var scoring: ScoringSettings? { get }
}

extension CandidateEvaluator {
    public var scoring: ScoringSettings? { nil }

    public func scores(_ archs: [Architecture], each: (Int, Double) throws -> Void) throws {
        for (i, a) in archs.enumerated() { try each(i, try score(a)) }
    }
}

/// Random draws the search needs, with a state it can save and restore for resuming.
public protocol SearchRandom: RandomSource {
    /// Uniform in [0, 1).
    func uniform() -> Double
    var state: [UInt8] { get }
    func restore(_ state: [UInt8]) throws
}

/// Cost of a candidate on every budgeted axis.
public struct Measured: Codable, Equatable, Sendable {
    public var macs: Int
    public var parameters: Int
    public var latencyMs: Double?
    /// Peak activation memory and flash of the int8 model (when the budget limits either).
    public var edge: EdgeCost?

    public init(macs: Int, parameters: Int, latencyMs: Double?, edge: EdgeCost? = nil) {
        self.macs = macs; self.parameters = parameters; self.latencyMs = latencyMs; self.edge = edge
    }
}

/// A feasible budget on a space: checks candidates against it without evaluating them.
/// Made once, before any data or weights load; the search takes it as it is.
public struct Constraints {
    public let space: SearchSpace
    public let budget: Budget
    public let latency: LatencyModel?

    /// Throws when even the cheapest candidate breaks the budget, or a latency budget has
    /// no latency model.
    public init(space: SearchSpace, budget: Budget, latency: LatencyModel?) throws {
        self.space = space
        self.budget = budget
        self.latency = latency
        try checkFeasible()
    }

    public func measure(_ arch: Architecture) -> Measured {
        let c = space.cost(arch)
        return Measured(macs: c.macs, parameters: c.parameters, latencyMs: latency?.latencyMs(arch),
                        edge: budget.limitsEdgeCost ? space.edgeCost(arch) : nil)
    }

    public func admits(_ m: Measured) -> Bool {
        if let b = budget.minMACs, m.macs < b { return false }
        if let b = budget.maxMACs, m.macs > b { return false }
        if let b = budget.minParameters, m.parameters < b { return false }
        if let b = budget.maxParameters, m.parameters > b { return false }
        if let b = budget.maxLatencyMs, let l = m.latencyMs, l > b { return false }
        if let b = budget.maxPeakMemoryBytes, let e = m.edge, e.peakActivationBytes > b { return false }
        if let b = budget.maxFlashBytes, let e = m.edge, e.flashBytes > b { return false }
        return true
    }

    /// Throws when even the cheapest candidate breaks the budget (MACs and parameters are
    /// minimal at the smallest architecture; latency is checked there too), or when the MACs
    /// floor (or the parameters floor) is above the largest candidate or above its limit.
    func checkFeasible() throws {
        guard budget.maxLatencyMs == nil || latency != nil else { throw SearchError.noLatencyModel }
        let largest = space.largest
        let most = space.cost(largest)
        for (quantity, floor, limit, top) in [("MACs", budget.minMACs, budget.maxMACs, most.macs),
                                              ("params", budget.minParameters, budget.maxParameters, most.parameters)] {
            guard let floor else { continue }
            if let limit, floor > limit { throw SearchError.emptyBand(quantity: quantity, floor: floor, limit: limit) }
            if top < floor { throw SearchError.floorAboveLargest(quantity: quantity, floor: floor, largest: top, architecture: largest.description) }
        }
        let smallest = space.smallest
        let m = measure(smallest)
        var limited = m
        // The floors are not the cheapest candidate's to meet.
        limited.macs = max(m.macs, budget.minMACs ?? 0)
        limited.parameters = max(m.parameters, budget.minParameters ?? 0)
        if !admits(limited) {
            throw SearchError.infeasible(budget: budget.description,
                                         cheapest: "\(m.macs) MACs, \(m.parameters) params" + (m.latencyMs.map { String(format: ", %.3f ms", $0) } ?? "")
                                            + (m.edge.map { ", peak memory \(readableBytes($0.peakActivationBytes)), flash \(readableBytes($0.flashBytes))" } ?? ""),
                                         architecture: smallest.description)
        }
    }
}

public enum SearchError: Error, CustomStringConvertible, Equatable {
    case infeasible(budget: String, cheapest: String, architecture: String)
    case tooFewFeasible(found: Int, wanted: Int, tries: Int, budget: String)
    case noLatencyModel
    case badState(path: String, reason: String)
    case latencyTableForOtherSpace(path: String, tableSpace: String, space: String)
    case emptyBand(quantity: String, floor: Int, limit: Int)
    case floorAboveLargest(quantity: String, floor: Int, largest: Int, architecture: String)

    public var description: String {
        switch self {
        case let .infeasible(budget, cheapest, arch):
            return "budget \(budget) is infeasible: the cheapest candidate costs \(cheapest) (\(arch))"
        case let .tooFewFeasible(found, wanted, tries, budget):
            return "only \(found) of \(wanted) initial candidates met \(budget) in \(tries) random draws; loosen the budget"
        case .noLatencyModel:
            return "a latency budget needs a latency table (run `pare latency` first)"
        case let .badState(path, reason):
            return "\(path): unusable search state (\(reason))"
        case let .latencyTableForOtherSpace(path, tableSpace, space):
            return "\(path): a latency table measured for space '\(tableSpace)', not for this definition of '\(space)' (measure one with: pare latency --space FILE)"
        case let .emptyBand(quantity, floor, limit):
            return "the \(quantity) floor \(floor) is above the \(quantity) limit \(limit): no candidate can meet both"
        case let .floorAboveLargest(quantity, floor, largest, arch):
            return "the \(quantity) floor \(floor) is above the largest candidate's \(largest) \(quantity) (\(arch))"
        }
    }
}
