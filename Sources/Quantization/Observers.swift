import Foundation

/// How an activation's quantization range is chosen from calibration data.
public enum RangeObserver: String, Codable, CaseIterable, Sendable {
    /// The observed minimum and maximum: nothing clipped, coarse steps when outliers exist.
    case minmax
    /// The `percentile`-th and (100 − percentile)-th percentiles: a few outliers clipped.
    case percentile
    /// TensorRT's entropy calibration: the clipping threshold whose quantized distribution
    /// is closest (Kullback-Leibler) to the observed one.
    case kl
}

/// One activation's calibration statistics, gathered in two passes over the same batches:
/// first the extremes, then a histogram of 4096 bins over [−M, M], M = max(|min|, |max|).
/// Both passes merge across threads (`merge`), so parallel calibration equals serial.
public struct ActivationStatistics: Sendable {
    public static let bins = 4096
    public private(set) var minimum: Float = .infinity
    public private(set) var maximum: Float = -.infinity
    public private(set) var histogram: [Double] = []
    public private(set) var count = 0

    public init() {}

    public var bound: Float { max(abs(minimum), abs(maximum), .leastNormalMagnitude) }

    /// Pass 1.
    public mutating func observeRange<C: Collection>(_ values: C) where C.Element == Float {
        for v in values where v.isFinite {
            minimum = min(minimum, v)
            maximum = max(maximum, v)
        }
        count += values.count
    }

    /// Pass 2 (after every `observeRange`): the histogram over [−bound, bound].
    public mutating func observeHistogram<C: Collection>(_ values: C) where C.Element == Float {
        if histogram.isEmpty { histogram = [Double](repeating: 0, count: Self.bins) }
        let m = bound, n = Self.bins
        let perUnit = Float(n) / (2 * m)
        for v in values where v.isFinite {
            let b = Int(((v + m) * perUnit).rounded(.down))
            histogram[min(max(b, 0), n - 1)] += 1
        }
    }

    public mutating func merge(_ other: ActivationStatistics) {
        minimum = min(minimum, other.minimum)
        maximum = max(maximum, other.maximum)
        count += other.count
        if histogram.isEmpty { histogram = other.histogram } else if !other.histogram.isEmpty {
            for i in histogram.indices { histogram[i] += other.histogram[i] }
        }
    }

    /// Adds another thread's histogram pass over the same extremes.
    public mutating func addHistogram(_ other: ActivationStatistics) {
        if histogram.isEmpty { histogram = [Double](repeating: 0, count: Self.bins) }
        for i in other.histogram.indices { histogram[i] += other.histogram[i] }
    }

    /// The range to quantize to, always inside [minimum, maximum].
    public func range(_ observer: RangeObserver, percentile: Double = 99.99) -> (lower: Float, upper: Float) {
        guard minimum <= maximum else { return (0, 0) }
        switch observer {
        case .minmax:
            return (minimum, maximum)
        case .percentile:
            precondition(!histogram.isEmpty, "percentile observer: the histogram pass did not run")
            return (max(minimum, quantile(1 - percentile / 100)), min(maximum, quantile(percentile / 100)))
        case .kl:
            precondition(!histogram.isEmpty, "KL observer: the histogram pass did not run")
            let t = klThreshold(levels: minimum < 0 ? 128 : 256)
            return (max(minimum, -t), min(maximum, t))
        }
    }

    /// The value below which a fraction `q` of the observations lie (bin upper edges).
    func quantile(_ q: Double) -> Float {
        let total = histogram.reduce(0, +)
        let width = 2 * bound / Float(Self.bins)
        var seen = 0.0
        for (i, c) in histogram.enumerated() {
            seen += c
            if seen >= q * total { return -bound + Float(i + 1) * width }
        }
        return bound
    }

    /// TensorRT's entropy calibration on |x| (2048 bins over [0, M]): for each candidate
    /// threshold of i bins, P is the histogram clipped at i (outliers added to the last bin),
    /// Q the same i bins merged into `levels` groups and spread back uniformly over each
    /// group's non-empty bins; the threshold minimizing KL(P ‖ Q).
    func klThreshold(levels: Int) -> Float {
        let half = Self.bins / 2
        var absolute = [Double](repeating: 0, count: half)
        for j in 0..<half { absolute[j] = histogram[half + j] + histogram[half - 1 - j] }
        // The spike of exact zeros (ReLU outputs, padding) says nothing about the range and would
        // favour thresholds that keep it alone in a bin: replaced by its neighbour, as NVIDIA's
        // calibrator does.
        if half > 1 { absolute[0] = absolute[1] }
        let width = bound / Float(half)
        var best = (divergence: Double.infinity, bins: half)
        let step = max(1, (half - levels) / 128)
        // About 128 candidate thresholds from `levels` bins up to the whole range (always tried).
        for i in Set(Array(stride(from: levels, through: half, by: step)) + [half]).sorted() {
            var p = Array(absolute[0..<i])
            p[i - 1] += absolute[i...].reduce(0, +)
            // Q: the clipped bins merged into `levels` groups, each group's mass spread over its
            // non-empty bins.
            var q = [Double](repeating: 0, count: i)
            for g in 0..<levels {
                let start = g * i / levels, end = (g + 1) * i / levels
                guard end > start else { continue }
                var mass = 0.0, nonEmpty = 0
                for k in start..<end where absolute[k] > 0 { mass += absolute[k]; nonEmpty += 1 }
                guard nonEmpty > 0 else { continue }
                for k in start..<end where absolute[k] > 0 { q[k] = mass / Double(nonEmpty) }
            }
            let pTotal = p.reduce(0, +), qTotal = q.reduce(0, +)
            if pTotal > 0, qTotal > 0 {
                var d = 0.0
                for k in 0..<i where p[k] > 0 {
                    let pk = p[k] / pTotal
                    // A bin Q leaves empty (P's last, holding the outliers) is smoothed.
                    let qk = max(q[k] / qTotal, 1e-4)
                    d += pk * log(pk / qk)
                }
                if d < best.divergence { best = (d, i) }
            }
        }
        return Float(best.bins) * width
    }
}
