import Foundation
import Networks

/// A network's tensors by name (parameters and BN running statistics), pointing into it.
public struct TensorStore {
    private var tensors: [String: StateTensor] = [:]

    public init(_ network: any Network) {
        for t in network.stateTensors { tensors[t.name] = t }
    }

    /// The parameters' SGD velocities, by the parameters' names.
    public init(momentumOf network: any Network) {
        for p in network.parameters { tensors[p.name] = StateTensor(name: p.name, shape: p.shape, pointer: p.velocity) }
    }

    public func optionalTensor(_ name: String) -> StateTensor? { tensors[name] }

    public func tensor(_ name: String) -> StateTensor {
        guard let t = tensors[name] else { preconditionFailure("no tensor '\(name)' in the network") }
        return t
    }

    /// Axis-0 rows of a weight: one filter per output channel.
    public func filters(_ name: String) -> [[Float]] {
        let t = tensor(name)
        let rows = t.shape[0], size = t.count / max(rows, 1)
        return (0..<rows).map { Array(UnsafeBufferPointer(start: t.pointer + $0 * size, count: size)) }
    }

    public func vector(_ name: String) -> [Float] {
        let t = tensor(name)
        return Array(UnsafeBufferPointer(start: t.pointer, count: t.count))
    }
}

/// How much each channel of each group matters: one score per channel (higher: keep),
/// comparable across groups because pruning ranks all channels globally. A group that is
/// not prunable gets an empty list.
public protocol ChannelImportance: Sendable {
    /// The name on the command line and in provenance (l1, l2, slimming, fpgm, fpgm-weak).
    var name: String { get }
    func scores(_ groups: [ChannelGroup], _ tensors: TensorStore) -> [[Double]]
}

extension ChannelImportance {
    /// Per group, the mean over its producing layers of each layer's per-channel score.
    func averaged(_ groups: [ChannelGroup], _ layerScores: (ChannelGroup.Producer) -> [Double]) -> [[Double]] {
        groups.map { g in
            guard g.prunable, !g.producers.isEmpty else { return [] }
            var sum = [Double](repeating: 0, count: g.channels)
            for p in g.producers {
                let s = layerScores(p)
                for c in 0..<g.channels { sum[c] += s[c] }
            }
            return sum.map { $0 / Double(g.producers.count) }
        }
    }
}

/// L1 or L2 norm of each filter (Li et al. 2017), each layer's norms divided by their mean so
/// that layers of different fan-in compare (Torch-Pruning's "mean" normalizer), averaged
/// over the group's producing layers (dense and depthwise).
public struct FilterNorm: ChannelImportance {
    public var p: Int
    public init(p: Int) { precondition(p == 1 || p == 2, "FilterNorm p \(p)"); self.p = p }
    public var name: String { "l\(p)" }

    public func scores(_ groups: [ChannelGroup], _ tensors: TensorStore) -> [[Double]] {
        averaged(groups) { producer in
            let norms = tensors.filters(producer.weight).map { row -> Double in
                p == 1 ? row.reduce(0) { $0 + Double(abs($1)) } : row.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            }
            let mean = norms.reduce(0, +) / Double(max(norms.count, 1))
            return norms.map { mean > 0 ? $0 / mean : 0 }
        }
    }
}

/// |gamma| of the BatchNorms after the group's producers (network slimming, Liu et al. 2017):
/// raw, not normalized, so one global threshold applies to every layer (the L1 penalty of
/// `--slimming` is what makes the scales comparable).
public struct BatchNormScale: ChannelImportance {
    public init() {}
    public var name: String { "slimming" }

    public func scores(_ groups: [ChannelGroup], _ tensors: TensorStore) -> [[Double]] {
        averaged(groups) { producer in tensors.vector(producer.norm + ".weight").map { Double(abs($0)) } }
    }
}

/// FPGM (He et al. 2019): a filter close to the geometric median of its layer is replaceable
/// by the others. R_j = sum over the layer's other filters j' of ||W_j - W_j'||_2; per layer
/// Z = R / (max R - min R + theta) * I, with I = nu for a "weak" layer (the standard
/// deviation of its R below half the mean standard deviation over all layers) and 1 else.
/// nu = 1 is plain FPGM with a global ranking; nu < 1 prunes redundant layers harder.
public struct GeometricMedian: ChannelImportance {
    public var nu: Double
    public var theta: Double
    public init(nu: Double = 1, theta: Double = 1e-8) { self.nu = nu; self.theta = theta }
    public var name: String { nu == 1 ? "fpgm" : "fpgm-weak" }

    /// R of every filter of one layer.
    public static func distanceSums(_ filters: [[Float]]) -> [Double] {
        let n = filters.count
        var r = [Double](repeating: 0, count: n)
        for i in 0..<n {
            for j in (i + 1)..<max(n, i + 1) {
                var d = 0.0
                for (a, b) in zip(filters[i], filters[j]) { d += Double(a - b) * Double(a - b) }
                d = d.squareRoot()
                r[i] += d
                r[j] += d
            }
        }
        return r
    }

    static func standardDeviation(_ v: [Double]) -> Double {
        let mean = v.reduce(0, +) / Double(max(v.count, 1))
        return (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(v.count, 1))).squareRoot()
    }

    /// The weak-layer factor of each layer from its R values: nu where the standard deviation
    /// is below half the mean of all layers' standard deviations, else 1.
    public static func layerFactors(_ distances: [[Double]], nu: Double) -> [Double] {
        let deviations = distances.map(standardDeviation)
        let threshold = 0.5 * deviations.reduce(0, +) / Double(max(deviations.count, 1))
        return deviations.map { $0 < threshold ? nu : 1 }
    }

    public func scores(_ groups: [ChannelGroup], _ tensors: TensorStore) -> [[Double]] {
        var distances: [String: [Double]] = [:]
        for g in groups where g.prunable {
            for p in g.producers where distances[p.weight] == nil { distances[p.weight] = Self.distanceSums(tensors.filters(p.weight)) }
        }
        let names = distances.keys.sorted()
        let factors = Dictionary(uniqueKeysWithValues: zip(names, Self.layerFactors(names.map { distances[$0]! }, nu: nu)))
        return averaged(groups) { producer in
            let r = distances[producer.weight]!
            let span = (r.max() ?? 0) - (r.min() ?? 0) + theta
            return r.map { $0 / span * factors[producer.weight]! }
        }
    }
}

/// The importance criteria by name: what `--method`, `--importance`, `--soft-prune` and
/// `--sort-channels` choose from, typed once so that no caller parses or downcasts.
public enum ImportanceCriterion: String, Codable, CaseIterable, Sendable {
    case l1, l2, slimming, fpgm
    case fpgmWeak = "fpgm-weak"

    /// The criterion, with the weak-layer factor `nu` (fpgm-weak only) and the geometric
    /// median's denominator offset `theta` (fpgm and fpgm-weak).
    public func make(nu: Double, theta: Double = 1e-8) -> any ChannelImportance {
        switch self {
        case .l1: return FilterNorm(p: 1)
        case .l2: return FilterNorm(p: 2)
        case .slimming: return BatchNormScale()
        case .fpgm: return GeometricMedian(nu: 1, theta: theta)
        case .fpgmWeak: return GeometricMedian(nu: nu, theta: theta)
        }
    }

    /// "l1, l2, slimming, fpgm or fpgm-weak", for messages.
    public static var names: String {
        let all = allCases.map(\.rawValue)
        return all.dropLast().joined(separator: ", ") + " or " + all.last!
    }
}

/// The criterion a command-line name stands for.
public func channelImportance(named name: String, nu: Double, theta: Double = 1e-8) -> (any ChannelImportance)? {
    ImportanceCriterion(rawValue: name)?.make(nu: nu, theta: theta)
}
