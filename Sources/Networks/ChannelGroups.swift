import Layers
import Spaces

/// A set of channels that must be kept, removed or permuted together (Torch-Pruning's
/// dependency group): the filters that make them, the BNs that normalise them and the
/// weights that read them. Residual additions merge sets: ResNet's identity shortcut puts a
/// block's output in the same set as its input.
public struct ChannelGroup: Equatable, Sendable {
    /// Which width of the space the set's count is: several sets can be one width (a
    /// stage of plain convolutions, Xception's two middle sets), and one set several (the
    /// stem and a ResNet stage joined by an identity shortcut).
    public enum Role: Hashable, Sendable, Comparable, CustomStringConvertible {
        case stem
        case stage(Int)
        case middle(block: Int)
        case head

        public var description: String {
            switch self {
            case .stem: return "stem"
            case let .stage(s): return "stage \(s)"
            case let .middle(b): return "block \(b) middle"
            case .head: return "head"
            }
        }
    }

    /// A layer whose filters make the channels: a dense convolution (weight rows, axis 0) or
    /// a depthwise one (its per-channel filters), and the BatchNorm after it.
    public struct Producer: Equatable, Sendable {
        /// Name of the weight tensor ("blocks.3.conv1.weight").
        public var weight: String
        /// Name of the BatchNorm layer ("blocks.3.bn1": .weight, .bias, .running_mean, .running_var).
        public var norm: String
        public var depthwise: Bool
    }

    public var roles: Set<Role>
    public var channels: Int
    public var producers: [Producer]
    /// Dense convolution or classifier weights that read the channels (axis 1).
    public var consumers: [String]
    /// False where the network's structure fixes channel positions (ShuffleNet's split and
    /// shuffle): such a set is never permuted nor pruned.
    public var prunable = true
}

extension Subnet {
    /// The channel sets of this network, in the order they appear (stem first). Sets of a
    /// ShuffleNet stage are not prunable; their blocks' middle channels are.
    public var channelGroups: [ChannelGroup] {
        var b = GroupBuilder()
        let l = layers
        var current = b.new(.stem, channels: space.stem.channels)
        b.produce(current, l.stem.weight.name, l.stemNorm.layerName)
        var input = space.stem.channels
        for (block, gene) in zip(l.blocks, architecture.genes) {
            let output = architecture.widths[block.slot.stage]
            let middle = block.slot.middleWidth(gene, input: input, output: output)
            let stage = ChannelGroup.Role.stage(block.slot.stage), mid = ChannelGroup.Role.middle(block: block.slot.index)
            switch block.operators[0] {
            case let op as PlainOperator:
                // conv: conv + bn; separable: dw + bn1 on the input's channels, pw + bn2.
                var out = current
                for layer in op.main.pairs {
                    if layer.depthwise {
                        b.produce(current, layer.weight, layer.norm, depthwise: true)
                    } else {
                        b.consume(current, layer.weight)
                        out = b.new(stage, channels: output)
                        b.produce(out, layer.weight, layer.norm)
                    }
                }
                current = out
            case let op as InvertedResidualOperator:
                let p = op.main.pairs
                let m = b.new(mid, channels: middle)
                b.consume(current, p[0].weight)
                b.produce(m, p[0].weight, p[0].norm)
                b.produce(m, p[1].weight, p[1].norm, depthwise: true)
                b.consume(m, p[2].weight)
                let out = b.new(stage, channels: output)
                b.produce(out, p[2].weight, p[2].norm)
                if block.slot.stride == 1 && input == output { b.merge(out, current) }
                current = out
            case let op as ResidualOperator:
                let p = op.main.pairs
                let m = b.new(mid, channels: middle)
                b.consume(current, p[0].weight)
                b.produce(m, p[0].weight, p[0].norm)
                b.consume(m, p[1].weight)
                let out = b.new(stage, channels: output)
                b.produce(out, p[1].weight, p[1].norm)
                if op.usesProjection(input: input, output: output), let s = op.projection?.pairs.first {
                    b.consume(current, s.weight)
                    b.produce(out, s.weight, s.norm)
                } else {
                    b.merge(out, current)
                }
                current = out
            case let op as ShuffleOperator:
                // The split and the shuffle fix where every stage channel goes: only the main
                // branch's middle sets (between its 1x1 convolutions) can change.
                b.freeze(current)
                var inner: Int?
                let lastDense = op.main.pairs.last(where: { !$0.depthwise })!.weight
                for layer in op.main.pairs {
                    if layer.depthwise {
                        if let inner { b.produce(inner, layer.weight, layer.norm, depthwise: true) }
                    } else {
                        if let inner { b.consume(inner, layer.weight) }
                        inner = layer.weight == lastDense ? nil : b.new(mid, channels: middle)
                        if let inner { b.produce(inner, layer.weight, layer.norm) }
                    }
                }
                current = b.new(stage, channels: output)
                b.freeze(current)
            default:
                preconditionFailure("channel groups: unknown operator in block \(block.slot.index)")
            }
            input = output
        }
        if let head = l.head, let norm = l.headNorm {
            b.consume(current, head.weight.name)
            current = b.new(.head, channels: space.head.channels)
            b.produce(current, head.weight.name, norm.layerName)
        }
        b.consume(current, l.classifier.weight.name)
        return b.groups()
    }
}

extension Chain {
    /// Each convolution with the BN after it, by tensor names.
    var pairs: [(weight: String, norm: String, depthwise: Bool)] {
        var out: [(String, String, Bool)] = []
        for (i, layer) in layers.enumerated() where i + 1 < layers.count {
            guard case let .norm(bn) = layers[i + 1] else { continue }
            switch layer {
            case let .conv(c, _): out.append((c.weight.name, bn.layerName, false))
            case let .depthwise(d): out.append((d.weight.name, bn.layerName, true))
            case .norm: break
            }
        }
        return out
    }
}

/// Collects channel sets with a union-find over set ids (residual additions merge them).
struct GroupBuilder {
    private var sets: [ChannelGroup] = []
    private var parent: [Int] = []

    mutating func new(_ role: ChannelGroup.Role, channels: Int) -> Int {
        sets.append(ChannelGroup(roles: [role], channels: channels, producers: [], consumers: []))
        parent.append(parent.count)
        return parent.count - 1
    }

    private mutating func root(_ i: Int) -> Int {
        var i = i
        while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
        return i
    }

    mutating func produce(_ set: Int, _ weight: String, _ norm: String, depthwise: Bool = false) {
        sets[root(set)].producers.append(.init(weight: weight, norm: norm, depthwise: depthwise))
    }

    mutating func consume(_ set: Int, _ weight: String) { sets[root(set)].consumers.append(weight) }

    mutating func freeze(_ set: Int) { sets[root(set)].prunable = false }

    /// `a` and `b` are the same channels (an identity shortcut adds them).
    mutating func merge(_ a: Int, _ b: Int) {
        let ra = root(a), rb = root(b)
        guard ra != rb else { return }
        precondition(sets[ra].channels == sets[rb].channels, "merging channel sets of \(sets[ra].channels) and \(sets[rb].channels)")
        let (keep, gone) = (min(ra, rb), max(ra, rb))
        sets[keep].roles.formUnion(sets[gone].roles)
        sets[keep].producers += sets[gone].producers
        sets[keep].consumers += sets[gone].consumers
        sets[keep].prunable = sets[keep].prunable && sets[gone].prunable
        parent[gone] = keep
    }

    mutating func groups() -> [ChannelGroup] {
        (0..<sets.count).filter { root($0) == $0 }.map { sets[$0] }
    }
}
