import Networks
import Spaces

public enum WidthSpaceError: Error, CustomStringConvertible, Equatable {
    case mixedOperators(stage: Int)
    case pinnedMiddles
    case nothingToSearch

    public var description: String {
        switch self {
        case let .mixedOperators(s):
            return "stage \(s) uses different operators in its blocks; pruning by search keeps every block's operator and needs one operator per stage"
        case .pinnedMiddles:
            return "the model's middle widths are pinned (it was pruned before); prune by search starts from an unpruned model"
        case .nothingToSearch:
            return "no width of this network can change (ShuffleNet stages keep theirs); nothing to search"
        }
    }
}

/// AutoSlim / MetaPruning's per-layer widths for a trained network: a width-only space
/// whose largest candidate is the network itself. Every prunable stage offers `fractions`
/// (tenths) of its width, every block with a middle width the same fractions of its ratio;
/// operators, stem and head stay (a stage joined to the stem or head by identity shortcuts
/// keeps its width). With the network's channels reordered by importance first, "the first
/// k channels" of a candidate are its k most important ones.
public enum WidthSpace {
    public static let defaultFractions = Array(3...10)

    public static func make(from model: Subnet, fractions: [Int] = defaultFractions) throws -> SearchSpace {
        let space = model.space, arch = model.architecture
        guard space.stages.allSatisfy({ $0.middleWidths == nil }) else { throw WidthSpaceError.pinnedMiddles }
        let groups = model.channelGroups
        let fixed = groups.filter { !$0.prunable || $0.roles.contains(.stem) || $0.roles.contains(.head) }.reduce(Set<ChannelGroup.Role>()) { $0.union($1.roles) }
        let prunableMiddles = groups.filter(\.prunable).reduce(Set<ChannelGroup.Role>()) { $0.union($1.roles) }
        var s = space
        // Its widths are the pruning's choices, not multiples of the space's channel multiple.
        s.channelMultiple = nil
        s.pruningNet = false
        var searched = false
        for (i, stage) in space.stages.enumerated() {
            let genes = space.blocks.filter { $0.stage == i }.map { arch.genes[$0.index] }
            guard Set(genes.map(\.op)).count == 1 else { throw WidthSpaceError.mixedOperators(stage: i) }
            let w = arch.widths[i]
            let widths = fixed.contains(.stage(i)) ? [w] : Array(Set(fractions.map { max(1, w * $0 / 10) } + [w])).sorted()
            var ratios = Set(genes.map(\.ratioTenths))
            let slots = space.blocks.filter { $0.stage == i }
            if BlockSlot.hasMiddle(genes[0].op), slots.contains(where: { prunableMiddles.contains(.middle(block: $0.index)) }) {
                for g in genes { for f in fractions { ratios.insert(max(1, g.ratioTenths * f / 10)) } }
            }
            searched = searched || widths.count > 1 || ratios.count > 1
            s.stages[i] = SearchSpace.Stage(blocks: stage.blocks, stride: stage.stride, widths: widths, operators: [genes[0].op],
                                           middleRatios: ratios.sorted())
        }
        guard searched else { throw WidthSpaceError.nothingToSearch }
        s.name = space.name + "-widths"
        try s.validate(file: "width space of \(space.name)")
        return s
    }

    /// Writes `model`'s weights into `supernet` (built from `make(from: model)`): every tensor
    /// by name, into the leading window where the supernet allocates more (a block whose
    /// stage offers larger ratios than its own keeps fresh weights beyond its channels).
    public static func inherit(_ model: Subnet, into supernet: Supernet) throws {
        let source = TensorStore(model)
        for t in supernet.stateTensors {
            let s = source.tensor(t.name)
            guard s.shape.count == t.shape.count, zip(s.shape, t.shape).allSatisfy({ $0 <= $1 }) else {
                throw SubnetError.mismatch("'\(t.name)' \(s.shape) does not fit the width supernet's \(t.shape)")
            }
            if s.shape == t.shape { t.pointer.update(from: s.pointer, count: t.count); continue }
            // Leading window: rows of the innermost dimension, odometer over the outer ones.
            let rank = s.shape.count, inner = s.shape[rank - 1]
            var strides = [Int](repeating: 1, count: rank)
            for k in stride(from: rank - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * t.shape[k + 1] }
            var index = [Int](repeating: 0, count: rank)
            for r in 0..<(s.count / max(inner, 1)) {
                var offset = 0
                for k in 0..<(rank - 1) { offset += index[k] * strides[k] }
                (t.pointer + offset).update(from: s.pointer + r * inner, count: inner)
                var k = rank - 2
                while k >= 0 { index[k] += 1; if index[k] < s.shape[k] { break }; index[k] = 0; k -= 1 }
            }
        }
    }
}
