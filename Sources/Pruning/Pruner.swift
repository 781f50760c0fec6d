import Foundation
import Networks
import Spaces
import TensorCore

/// What a prune must reach: MACs or parameters at most `value`.
public struct PruneTarget: Equatable, Sendable, CustomStringConvertible {
    public enum Metric: String, Sendable { case macs, parameters }
    public var metric: Metric
    public var value: Int
    public init(metric: Metric, value: Int) { self.metric = metric; self.value = value }

    func measure(_ c: Cost) -> Int { metric == .macs ? c.macs : c.parameters }
    public var description: String {
        metric == .macs ? String(format: "%.3f M MACs", Double(value) / 1e6) : "\(value) parameters"
    }
}

public enum PruneError: Error, CustomStringConvertible, Equatable {
    case unreachable(target: String, smallest: String)
    case nothingPrunable

    public var description: String {
        switch self {
        case let .unreachable(target, smallest):
            return "target \(target) is below the smallest reachable \(smallest) (every layer at its minimum width; lower --min-width)"
        case .nothingPrunable:
            return "the network has no prunable channel group (ShuffleNet stages keep their widths; their blocks' middle widths prune)"
        }
    }
}

/// The result of planning: how many channels each width keeps, the space and architecture of
/// the pruned network, and its cost.
public struct PrunePlan: Sendable {
    public var counts: [ChannelGroup.Role: Int]
    public var space: SearchSpace
    public var architecture: Architecture
    public var cost: Cost
}

/// One-shot structured pruning of a trained network with one global ranking: channels of
/// every prunable group are ranked by importance across the whole network and removed
/// lowest first until the target holds, never below each width's minimum.
public struct Pruner {
    public let model: Subnet
    public let groups: [ChannelGroup]
    /// No width falls below this fraction of its original count (and never below 1).
    public var minimumFraction: Double
    /// The counts the minimum is a fraction of: the network's own, or (iterative pruning)
    /// those of the network the first round started from.
    public var originalCounts: [ChannelGroup.Role: Int]

    public init(model: Subnet, minimumFraction: Double = 0.1, originalCounts: [ChannelGroup.Role: Int]? = nil) {
        self.model = model
        self.minimumFraction = minimumFraction
        groups = model.channelGroups
        self.originalCounts = [:]
        self.originalCounts = originalCounts ?? counts
    }

    /// The widths (roles) of the network and their counts now.
    public var counts: [ChannelGroup.Role: Int] {
        var c: [ChannelGroup.Role: Int] = [:]
        for g in groups { for r in g.roles { c[r] = g.channels } }
        return c
    }

    /// Sets of groups that must keep equal counts (they share a width), prunable ones only.
    var tiedClasses: [[Int]] {
        var classes: [[Int]] = []
        for (i, g) in groups.enumerated() where g.prunable {
            let joined = classes.indices.filter { c in classes[c].contains { !groups[$0].roles.isDisjoint(with: g.roles) } }
            var merged = [i]
            for c in joined.reversed() { merged += classes.remove(at: c) }
            classes.append(merged.sorted())
        }
        // A width shared with an unprunable group (a ShuffleNet stage) stays as it is.
        let frozen = groups.filter { !$0.prunable }.reduce(Set<ChannelGroup.Role>()) { $0.union($1.roles) }
        return classes.filter { c in c.allSatisfy { groups[$0].roles.isDisjoint(with: frozen) } }
    }

    public func minimumCount(_ channels: Int) -> Int { max(1, Int((Double(channels) * minimumFraction).rounded(.up))) }

    /// The fewest channels a group may keep: the minimum fraction of its original width.
    func floor(_ group: ChannelGroup) -> Int {
        min(group.channels, group.roles.map { minimumCount(originalCounts[$0] ?? group.channels) }.max()!)
    }

    /// Global ranking: per class of tied groups, slot r scores the mean over its groups of
    /// their r-th best channel; slots leave lowest first, in one order for the whole network,
    /// until `target` holds.
    public func plan(scores: [[Double]], target: PruneTarget) throws -> PrunePlan {
        let ranking = try rank(scores)
        let smallestPlan = try build(ranking.smallest)
        guard target.measure(smallestPlan.cost) <= target.value else {
            throw PruneError.unreachable(target: target.description, smallest: PruneTarget(metric: target.metric, value: target.measure(smallestPlan.cost)).description)
        }
        let plan = try greedy(ranking) { plan, _ in target.measure(plan.cost) <= target.value }
        guard target.measure(plan.cost) <= target.value else {
            throw PruneError.unreachable(target: target.description, smallest: PruneTarget(metric: target.metric, value: target.measure(plan.cost)).description)
        }
        return plan
    }

    /// The same ranking, removing the globally lowest `fraction` of the prunable channels
    /// (soft pruning's rate; fewer where the minimum widths stop it).
    public func plan(scores: [[Double]], removing fraction: Double) throws -> PrunePlan {
        let ranking = try rank(scores)
        let total = ranking.classes.reduce(0) { $0 + groups[$1[0]].channels }
        let wanted = Int((Double(total) * fraction).rounded())
        return try greedy(ranking) { _, removed in removed >= wanted }
    }

    struct Ranking {
        var classes: [[Int]]
        var smallest: [ChannelGroup.Role: Int]
        /// (score of the slot, class, how many of the class's slots go before it), lowest first.
        var candidates: [(score: Double, cls: Int, step: Int)]
    }

    func rank(_ scores: [[Double]]) throws -> Ranking {
        let classes = tiedClasses
        guard !classes.isEmpty else { throw PruneError.nothingPrunable }
        var smallest = counts
        var candidates: [(score: Double, cls: Int, step: Int)] = []
        for (k, cls) in classes.enumerated() {
            let width = groups[cls[0]].channels
            let sorted = cls.map { scores[$0].sorted(by: >) }
            let slot = (0..<width).map { r in sorted.reduce(0) { $0 + $1[r] } / Double(cls.count) }
            let floor = cls.map { self.floor(groups[$0]) }.max()!
            for r in cls.flatMap({ groups[$0].roles }) { smallest[r] = floor }
            for step in 0..<(width - floor) { candidates.append((slot[width - 1 - step], k, step)) }
        }
        candidates.sort { ($0.score, $0.cls, $0.step) < ($1.score, $1.cls, $1.step) }
        return Ranking(classes: classes, smallest: smallest, candidates: candidates)
    }

    /// Removes the ranking's slots in order until `done(plan, removed channels)`.
    func greedy(_ ranking: Ranking, until done: (PrunePlan, Int) -> Bool) throws -> PrunePlan {
        let pattern = Self.identityPattern(model.space, model.architecture)
        var current = counts
        var plan = try build(current)
        var removed = 0
        var blocked = Set<Int>()
        for c in ranking.candidates where !done(plan, removed) && !blocked.contains(c.cls) {
            var next = current
            for r in Set(ranking.classes[c.cls].flatMap({ groups[$0].roles })) { next[r]! -= 1 }
            let candidate = try build(next)
            // A block must keep its shortcut kind: equal widths would turn a projection into an identity.
            guard Self.identityPattern(candidate.space, candidate.architecture) == pattern else { blocked.insert(c.cls); continue }
            current = next
            plan = candidate
            removed += 1
        }
        return plan
    }

    /// Per group, the channels `plan` removes: those past its count in descending score order
    /// (empty for groups it keeps whole).
    public func removedChannels(_ plan: PrunePlan, scores: [[Double]]) -> [[Int]] {
        zip(groups, scores).map { g, s in
            guard g.prunable, s.count == g.channels, let keep = g.roles.compactMap({ plan.counts[$0] }).min(), keep < g.channels else { return [] }
            return Array(ChannelOrder.descending(s)[keep...])
        }
    }

    /// The space and architecture of the network with `counts` channels per width: stage
    /// widths, stem and head set to their counts, middle widths pinned per block.
    func build(_ counts: [ChannelGroup.Role: Int]) throws -> PrunePlan {
        let (space, arch) = Self.prunedSpace(model.space, model.architecture, counts: counts)
        return PrunePlan(counts: counts, space: space, architecture: arch, cost: space.cost(arch))
    }

    public static func prunedSpace(_ space: SearchSpace, _ arch: Architecture, counts: [ChannelGroup.Role: Int]) -> (SearchSpace, Architecture) {
        var s = space
        // Pruned counts need not be multiples of the space's channel multiple: they are pinned.
        s.channelMultiple = nil
        s.pruningNet = false
        s.stem.channels = counts[.stem] ?? space.stem.channels
        if space.head.channels > 0 { s.head.channels = counts[.head] ?? space.head.channels }
        let widths = space.blockWidths(arch)
        var widthsOut: [Int] = []
        for (i, stage) in space.stages.enumerated() {
            let slots = space.blocks.filter { $0.stage == i }
            let genes = slots.map { arch.genes[$0.index] }
            var ops: [Operator] = []
            for g in genes where !ops.contains(g.op) { ops.append(g.op) }
            let w = counts[.stage(i)] ?? arch.widths[i]
            widthsOut.append(w)
            s.stages[i] = SearchSpace.Stage(blocks: stage.blocks, stride: stage.stride, widths: [w], operators: ops,
                                           middleRatios: Array(Set(genes.map(\.ratioTenths))).sorted())
            if genes.contains(where: { BlockSlot.hasMiddle($0.op) }) {
                s.stages[i].middleWidths = slots.map { counts[.middle(block: $0.index)] ?? widths[$0.index].middle }
            }
        }
        return (s, Architecture(widths: widthsOut, genes: arch.genes))
    }

    /// Per block, whether it adds its input unchanged (ResNet / MobileNetV2 identity).
    static func identityPattern(_ space: SearchSpace, _ arch: Architecture) -> [Bool] {
        zip(space.blocks, space.blockWidths(arch)).map { slot, w in
            arch.genes[slot.index].op.plan.join.addsShortcut && slot.stride == 1 && w.input == w.output
        }
    }

    /// Reorders the model's channels by `scores` (in place; its function is unchanged) and
    /// returns the pruned network: the leading channels of every group, as `plan` counts them.
    public func apply(_ plan: PrunePlan, scores: [[Double]]) throws -> Subnet {
        let tensors = TensorStore(model)
        ChannelOrder.sort(groups, scores: scores, in: tensors)
        let pruned = Subnet(space: plan.space, architecture: plan.architecture, rng: RNG(seed: 0), engine: model.engine)
        for t in pruned.stateTensors { try Subnet.copyLeadingSlice(from: tensors.tensor(t.name), to: t) }
        return pruned
    }
}
