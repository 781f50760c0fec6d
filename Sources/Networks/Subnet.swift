import Layers
import Spaces
import TensorCore

/// One tensor of a network's state (a parameter or a BN running statistic), by the name
/// it has in checkpoints and exported weight files. Points into the layer's storage.
public struct StateTensor {
    public let name: String
    public let shape: [Int]
    public let pointer: UnsafeMutablePointer<Float>
    public var count: Int { shape.reduce(1, *) }
    public init(name: String, shape: [Int], pointer: UnsafeMutablePointer<Float>) {
        self.name = name; self.shape = shape; self.pointer = pointer
    }
}

public enum SubnetError: Error, CustomStringConvertible, Equatable {
    case mismatch(String)
    public var description: String {
        switch self {
        case let .mismatch(m): return m
        }
    }
}

extension Network {
    /// Parameters, then every BN's running mean and variance (PyTorch names:
    /// `X.running_mean`, `X.running_var` beside `X.weight`, `X.bias`).
    public var stateTensors: [StateTensor] {
        let params = parameters.map { StateTensor(name: $0.name, shape: $0.shape, pointer: $0.value) }
        let stats = norms.flatMap { bn -> [StateTensor] in
            let prefix = bn.layerName
            return [StateTensor(name: prefix + ".running_mean", shape: [bn.maxChannels], pointer: bn.runningMean),
                    StateTensor(name: prefix + ".running_var", shape: [bn.maxChannels], pointer: bn.runningVariance)]
        }
        return params + stats
    }


    /// The subnet of `arch`: a network of exactly its widths, holding the leading slices of
    /// this network's weights and of `statistics` (BN recalibrated for `arch`, see
    /// `ArchitectureEvaluator.recalibratedStatistics`; nil: the running statistics the
    /// network holds now).
    public func extract(_ arch: Architecture, statistics: NormStatistics? = nil) throws -> Subnet {
        try space.validate(arch)
        let model = Subnet(space: space, architecture: arch, rng: RNG(seed: 0), engine: engine)
        // The model's block k is this network's block kept[k] (elastic depth drops skipped blocks).
        let kept = space.withoutSkippedBlocks(arch).kept
        // PruningNet: materialize the architecture's generated weights before copying them.
        layers.generateWeights(arch)
        var source: [String: StateTensor] = [:]
        for t in stateTensors { source[t.name] = t }
        var elastic: [String: DepthwiseConv2D] = [:]
        for d in layers.blocks.flatMap(\.elasticDepthwise) { elastic[d.weight.name] = d }
        for t in model.stateTensors {
            let name = supernetName(of: t.name, arch: arch, kept: kept)
            if let statistics, name.hasSuffix(".running_mean") || name.hasSuffix(".running_var") {
                guard let values = statistics.tensors[name], values.count >= t.count else {
                    throw SubnetError.mismatch("the statistics hold no '\(name)' of \(t.count) channels for '\(t.name)'")
                }
                t.pointer.update(from: values, count: t.count)
                continue
            }
            guard let s = source[name] else { throw SubnetError.mismatch("supernet has no tensor '\(name)' for '\(t.name)'") }
            if let d = elastic[name], t.shape.count == 4, t.shape[3] < d.kernel {
                // A smaller size of a shared kernel: its centre crop (transformed), not a corner.
                let w = d.kernelWeights(t.shape[3], channels: t.shape[0])
                t.pointer.update(from: w, count: w.count)
                continue
            }
            try Self.copyLeadingSlice(from: s, to: t)
        }
        return model
    }

    /// "blocks.3.main.pw1.weight" of the subnet is "blocks.B.ops.J.main.pw1.weight"
    /// of the supernet: B = kept[3], the supernet block the subnet's block 3 is (3 but
    /// under elastic depth), J the index of the chosen operator's group in its slot (of
    /// the operator itself without kernel sharing).
    func supernetName(of name: String, arch: Architecture, kept: [Int]) -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let blocks = layers.blocks
        guard parts.count > 2, parts[0] == "blocks", let k = Int(parts[1]), k < kept.count else { return name }
        let b = kept[k]
        let rest = parts.dropFirst(2).map(String.init)
        // Single-operator slots carry no ".ops.J" (see ChoiceBlock).
        guard blocks[b].slot.operatorGroups.count > 1, let j = blocks[b].slot.group(of: arch.genes[b].op) else {
            return (["blocks", "\(b)"] + rest).joined(separator: ".")
        }
        return (["blocks", "\(b)", "ops", "\(j)"] + rest).joined(separator: ".")
    }

    /// Copies the leading hyper-rectangle of `from` (the destination's shape) into `to`.
    public static func copyLeadingSlice(from s: StateTensor, to d: StateTensor) throws {
        guard s.shape.count == d.shape.count, zip(s.shape, d.shape).allSatisfy({ $0 >= $1 }) else {
            throw SubnetError.mismatch("'\(d.name)' \(d.shape) is not a leading slice of '\(s.name)' \(s.shape)")
        }
        // Rows of the innermost dimension, walked as an odometer over the outer ones.
        let rank = d.shape.count
        let inner = d.shape[rank - 1]
        var sourceStrides = [Int](repeating: 1, count: rank)
        for k in stride(from: rank - 2, through: 0, by: -1) { sourceStrides[k] = sourceStrides[k + 1] * s.shape[k + 1] }
        let rows = d.count / max(inner, 1)
        var index = [Int](repeating: 0, count: rank)
        for r in 0..<rows {
            var offset = 0
            for k in 0..<(rank - 1) { offset += index[k] * sourceStrides[k] }
            (d.pointer + r * inner).update(from: s.pointer + offset, count: inner)
            var k = rank - 2
            while k >= 0 {
                index[k] += 1
                if index[k] < d.shape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
    }
}

extension BatchNorm {
    /// The layer's name ("blocks.0.main.bn1"): its parameters are NAME.weight and NAME.bias.
    public var layerName: String {
        gamma.name.hasSuffix(".weight") ? String(gamma.name.dropLast(".weight".count)) : gamma.name
    }
}
