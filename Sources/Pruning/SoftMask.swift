import Layers
import Networks

/// Soft pruning with a global mask (soft filter pruning; FPGM's training-time variant):
/// the chosen channels' filters and their momentum are zeroed, but they keep training (the
/// BN after them is left alone, so gradients still reach them) and a channel masked at one
/// epoch can come back at the next.
public enum SoftMask {
    /// Zeroes `removed[g]` (channel indices) of every group `g`.
    public static func apply(_ removed: [[Int]], groups: [ChannelGroup], network: any Network) {
        var byName: [String: Parameter] = [:]
        for p in network.parameters { byName[p.name] = p }
        for (g, channels) in zip(groups, removed) where !channels.isEmpty {
            for producer in g.producers {
                for name in [producer.weight] {
                    guard let p = byName[name] else { preconditionFailure("soft mask: no parameter '\(name)'") }
                    let row = p.count / p.shape[0]
                    for c in channels {
                        (p.value + c * row).update(repeating: 0, count: row)
                        (p.velocity + c * row).update(repeating: 0, count: row)
                    }
                }
            }
        }
    }

    /// How many channels a mask takes: the globally lowest fraction of the prunable ones, or
    /// the fewest whose removal brings the network to a target.
    public enum Amount: Sendable {
        case fraction(Double)
        case target(PruneTarget)
    }

    /// Masks `model`'s globally least important channels by `criterion`, `amount` of them;
    /// returns how many channels it masked.
    @discardableResult
    public static func step(_ model: Subnet, criterion: any ChannelImportance, amount: Amount, minimumFraction: Double) throws -> Int {
        let pruner = Pruner(model: model, minimumFraction: minimumFraction)
        let scores = criterion.scores(pruner.groups, TensorStore(model))
        let removed = pruner.removedChannels(try pruner.plan(scores: scores, amount: amount), scores: scores)
        apply(removed, groups: pruner.groups, network: model)
        return removed.reduce(0) { $0 + $1.count }
    }
}

extension Pruner {
    /// The plan that removes `amount` of the channels.
    public func plan(scores: [[Double]], amount: SoftMask.Amount) throws -> PrunePlan {
        switch amount {
        case let .fraction(f): return try plan(scores: scores, removing: f)
        case let .target(t): return try plan(scores: scores, target: t)
        }
    }
}
