import Networks

/// Permutes channel groups in place: every producing filter and its BN entries, every
/// weight column reading the channels. The network computes the same function afterwards
/// (the permutation cancels between producer and consumer), which is what lets "keep the
/// first k channels" (a width choice, a physical prune) mean "keep the k best".
public enum ChannelOrder {
    /// Channel indices by descending score (ties: lower index first).
    public static func descending(_ scores: [Double]) -> [Int] {
        scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }

    /// Reorders every prunable group by descending score; returns each group's order
    /// (new channel i is old channel order[i]; empty for groups left alone).
    @discardableResult
    public static func sort(_ groups: [ChannelGroup], scores: [[Double]], in tensors: TensorStore) -> [[Int]] {
        zip(groups, scores).map { g, s in
            guard g.prunable, s.count == g.channels else { return [] }
            let order = descending(s)
            permute(g, order: order, in: tensors)
            return order
        }
    }

    /// Sorts `network`'s groups by `criterion` during training: the SGD momentum of every
    /// permuted parameter moves with it, so the next step is the one the network would take
    /// had its channels always been in this order. Returns how many channels moved.
    @discardableResult
    public static func sort(_ groups: [ChannelGroup], by criterion: any ChannelImportance, in network: any Network) -> Int {
        let tensors = TensorStore(network), momentum = TensorStore(momentumOf: network)
        var moved = 0
        for (g, s) in zip(groups, criterion.scores(groups, tensors)) where g.prunable && s.count == g.channels {
            let order = descending(s)
            permute(g, order: order, in: tensors, momentum: momentum)
            moved += order.enumerated().filter { $0.offset != $0.element }.count
        }
        return moved
    }

    /// New channel i of `group` is old channel order[i] (in `momentum` too, where given:
    /// the parameters' SGD velocities by the same names).
    public static func permute(_ group: ChannelGroup, order: [Int], in tensors: TensorStore, momentum: TensorStore? = nil) {
        precondition(order.count == group.channels && Set(order).count == order.count, "a permutation of \(group.channels) channels")
        let stores = [tensors] + (momentum.map { [$0] } ?? [])
        for p in group.producers {
            for name in [p.weight] + [".weight", ".bias", ".running_mean", ".running_var"].map({ p.norm + $0 }) {
                // Running statistics have no momentum.
                for (i, store) in stores.enumerated() {
                    if let t = i == 0 ? store.tensor(name) : store.optionalTensor(name) { gather(t, axis: 0, order: order) }
                }
            }
        }
        for c in group.consumers {
            for store in stores { gather(store.tensor(c), axis: 1, order: order) }
        }
    }

    /// t[..., i, ...] = old t[..., order[i], ...] along `axis` (0 or 1).
    static func gather(_ t: StateTensor, axis: Int, order: [Int]) {
        precondition(t.shape[axis] == order.count, "\(t.name) \(t.shape): axis \(axis) is not \(order.count) channels")
        let outer = t.shape[..<axis].reduce(1, *)
        let inner = t.shape[(axis + 1)...].reduce(1, *)
        let n = order.count
        var copy = [Float](repeating: 0, count: n * inner)
        for o in 0..<outer {
            let base = t.pointer + o * n * inner
            copy.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.update(from: base, count: n * inner)
                for (i, source) in order.enumerated() {
                    (base + i * inner).update(from: buffer.baseAddress! + source * inner, count: inner)
                }
            }
        }
    }
}
