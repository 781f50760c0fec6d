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
        let widths = architecture.widths
        return layers.channelGroups { slot, input in
            let output = widths[slot.stage]
            return (output, slot.stride == 1 && input == output, slot.stride != 1 || input != output)
        }
    }
}

extension Supernet {
    /// The channel sets of every operator of every block at the largest widths: a block's
    /// operators read the same input and write the same output set, each keeps its own middle
    /// sets. Permuting them (`ChannelOrder`) leaves every candidate that uses the largest
    /// widths computing what it did; a narrower candidate then runs on the best channels
    /// instead of the first ones, which is what sorting before width training is for. An
    /// identity shortcut that some candidate takes merges its input and output sets; where
    /// they differ in size (a stem narrower than its stage's widest choice) both stay put.
    public var channelGroups: [ChannelGroup] {
        layers.channelGroups { slot, input in
            let output = slot.outputWidths.max()!
            let identity = slot.stride == 1 && slot.inputWidths.contains { slot.outputWidths.contains($0) }
            return (output, identity, true)
        }
    }
}

extension NetworkLayers {
    /// `shape(slot, input)`: the block's output count, whether an identity shortcut joins its
    /// input and output, and whether a residual block's projection (when allocated) is used.
    func channelGroups(_ shape: (BlockSlot, _ input: Int) -> (output: Int, identity: Bool, projection: Bool)) -> [ChannelGroup] {
        var b = GroupBuilder()
        var current = b.new(.stem, channels: space.stem.channels)
        b.produce(current, stem.weight.name, stemNorm.layerName)
        var input = space.stem.channels
        for block in blocks {
            let (outputCount, identity, projects) = shape(block.slot, input)
            let stage = ChannelGroup.Role.stage(block.slot.stage), mid = ChannelGroup.Role.middle(block: block.slot.index)
            // Every operator of the block writes one output set, made after the first
            // operator's middle sets (the order sets are listed in); each has its own middles.
            b.startBlock(output: stage, channels: outputCount)
            for op in block.operators { op.channelGroups(&b, input: current, middle: mid, projects: projects) }
            let residual = block.operators.contains { type(of: $0).join.addsShortcut }
            let out = b.output()
            if identity && residual {
                if b.channels(out) == b.channels(current) { b.merge(out, current) } else { b.freeze(out); b.freeze(current) }
            }
            current = out
            input = outputCount
        }
        if let head, let headNorm {
            b.consume(current, head.weight.name)
            current = b.new(.head, channels: space.head.channels)
            b.produce(current, head.weight.name, headNorm.layerName)
        }
        b.consume(current, classifier.weight.name)
        return b.groups()
    }
}

extension Chain {
    /// Each convolution with the BN after it, by tensor names, and the channels it makes.
    /// `width`: what a dense convolution writes (nil: a depthwise one).
    var pairs: [(weight: String, norm: String, depthwise: Bool, channels: Int, width: Width?)] {
        var out: [(String, String, Bool, Int, Width?)] = []
        for (i, layer) in layers.enumerated() where i + 1 < layers.count {
            guard case let .norm(bn) = layers[i + 1] else { continue }
            switch layer {
            case let .conv(c, width): out.append((c.weight.name, bn.layerName, false, c.maxOutputChannels, width))
            case let .depthwise(d): out.append((d.weight.name, bn.layerName, true, d.maxChannels, nil))
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
    /// The output set of the block being added: made when its first producer comes.
    private var pendingOutput: (role: ChannelGroup.Role, channels: Int, made: Int?)?

    /// The next block writes a set of `channels` for `role` (`output()`).
    mutating func startBlock(output role: ChannelGroup.Role, channels: Int) { pendingOutput = (role, channels, nil) }

    /// The current block's output set, made on first use.
    mutating func output() -> Int {
        guard let p = pendingOutput else { preconditionFailure("channel groups: an output outside a block") }
        if let made = p.made { return made }
        let made = new(p.role, channels: p.channels)
        pendingOutput = (p.role, p.channels, made)
        return made
    }

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

    mutating func channels(_ set: Int) -> Int { sets[root(set)].channels }

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
