import Datasets
import Layers
import Spaces

/// BatchNorm running statistics as a value, by state-tensor name ("blocks.3.main.bn1.running_mean",
/// ".running_var"): what a recalibration found. Whoever needs them (extraction, a probe that
/// must leave training untouched) takes them explicitly, rather than relying on what the
/// network's layers happen to hold when it runs.
public struct NormStatistics: Sendable, Equatable {
    public var tensors: [String: [Float]]

    /// The statistics `norms` hold now.
    public init(_ norms: [BatchNorm]) {
        var tensors: [String: [Float]] = [:]
        for bn in norms {
            tensors[bn.layerName + ".running_mean"] = Array(UnsafeBufferPointer(start: bn.runningMean, count: bn.maxChannels))
            tensors[bn.layerName + ".running_var"] = Array(UnsafeBufferPointer(start: bn.runningVariance, count: bn.maxChannels))
        }
        self.tensors = tensors
    }

    /// Writes the statistics back into `norms` (layers the value does not hold keep theirs).
    public func restore(into norms: [BatchNorm]) {
        for bn in norms {
            if let m = tensors[bn.layerName + ".running_mean"] { bn.runningMean.update(from: m, count: min(m.count, bn.maxChannels)) }
            if let v = tensors[bn.layerName + ".running_var"] { bn.runningVariance.update(from: v, count: min(v.count, bn.maxChannels)) }
        }
    }
}

extension ArchitectureEvaluator {
    /// The statistics BN recalibration for `arch` finds (as `recalibrate`), with the
    /// network's own restored afterwards: nothing about the network changes.
    public func recalibratedStatistics(arch: Architecture, loader: BatchLoader, indices: [Int]) -> NormStatistics {
        let norms = network.norms
        let saved = NormStatistics(norms)
        defer { saved.restore(into: norms) }
        recalibrate(arch: arch, loader: loader, indices: indices)
        return NormStatistics(norms)
    }
}
