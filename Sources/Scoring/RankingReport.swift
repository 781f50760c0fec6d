import TensorCore

/// What a reviewer asks of a ranking check beyond one Kendall tau: how uncertain it is
/// (bootstrap intervals over the architectures), whether it survives holding size fixed
/// (tau within bands of similar MACs, beside MACs alone in the same bands — MACs alone
/// ranks well over a wide range, so an overall tau can be carried by size), and what
/// trusting it costs (top-k regret: the best stand-alone accuracy minus the best among the
/// k candidates the scores rank highest).
public struct RankingReport: Equatable, Sendable {
    public struct Interval: Equatable, Sendable {
        public var lower: Double
        public var upper: Double
        public init(lower: Double, upper: Double) { self.lower = lower; self.upper = upper }
    }
    public var kendallTau: Double
    public var kendallTauInterval: Interval
    public var spearmanRho: Double
    public var spearmanRhoInterval: Interval
    /// Pair-weighted mean tau-b inside `bands` groups of equal count, by MACs.
    public var bandKendallTau: Double
    public var bandKendallTauInterval: Interval
    /// MACs alone against the stand-alone accuracies inside the same bands.
    public var bandMACsKendallTau: Double
    public var bandMACsKendallTauInterval: Interval
    public var macsKendallTau: Double
    public var macsKendallTauInterval: Interval
    public var bands: Int
    /// (k, best stand-alone accuracy minus the best among the top k by score), k < count.
    public var regret: [Regret]
    public var resamples: Int

    public struct Regret: Equatable, Sendable {
        public var k: Int
        public var regret: Double
    }

    public static func make(scores: [Double], standalone: [Double], macs: [Double], bands: Int, resamples: Int = 2000, seed: UInt64 = 0) -> RankingReport {
        precondition(scores.count == standalone.count && macs.count == scores.count && scores.count >= 3 && bands >= 1)
        let n = scores.count
        let rng = RNG(seed: seed &+ 0xB007)
        var draws: [[Double]] = Array(repeating: [], count: 5)
        for _ in 0..<resamples {
            let idx = (0..<n).map { _ in rng.int(below: n) }
            let s = idx.map { scores[$0] }, a = idx.map { standalone[$0] }, m = idx.map { macs[$0] }
            let values = [RankCorrelation.kendallTau(s, a), RankCorrelation.spearman(s, a), bandTau(s, a, m, bands), bandTau(m, a, m, bands),
                          RankCorrelation.kendallTau(m, a)]
            for (k, v) in values.enumerated() where v.isFinite { draws[k].append(v) }
        }
        func interval(_ k: Int) -> Interval {
            let sorted = draws[k].sorted()
            guard !sorted.isEmpty else { return Interval(lower: .nan, upper: .nan) }
            func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count - 1)).rounded())))] }
            return Interval(lower: at(0.025), upper: at(0.975))
        }
        let best = standalone.max()!
        let byScore = (0..<n).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        let regret = [1, 3, 5].filter { $0 < n }.map { k in Regret(k: k, regret: best - byScore.prefix(k).map { standalone[$0] }.max()!) }
        return RankingReport(kendallTau: RankCorrelation.kendallTau(scores, standalone), kendallTauInterval: interval(0),
                             spearmanRho: RankCorrelation.spearman(scores, standalone), spearmanRhoInterval: interval(1),
                             bandKendallTau: bandTau(scores, standalone, macs, bands), bandKendallTauInterval: interval(2),
                             bandMACsKendallTau: bandTau(macs, standalone, macs, bands), bandMACsKendallTauInterval: interval(3),
                             macsKendallTau: RankCorrelation.kendallTau(macs, standalone), macsKendallTauInterval: interval(4),
                             bands: bands, regret: regret, resamples: resamples)
    }

    /// Tau-b of `x` against `y` inside each of `bands` equal-count groups ordered by `macs`,
    /// averaged with the groups' pair counts as weights (groups without a defined tau skipped).
    public static func bandTau(_ x: [Double], _ y: [Double], _ macs: [Double], _ bands: Int) -> Double {
        let order = (0..<x.count).sorted { macs[$0] < macs[$1] || (macs[$0] == macs[$1] && $0 < $1) }
        var sum = 0.0, weight = 0.0
        for b in 0..<bands {
            let part = Array(order[(order.count * b / bands)..<(order.count * (b + 1) / bands)])
            guard part.count >= 2 else { continue }
            let t = RankCorrelation.kendallTau(part.map { x[$0] }, part.map { y[$0] })
            guard t.isFinite else { continue }
            let pairs = Double(part.count * (part.count - 1) / 2)
            sum += t * pairs; weight += pairs
        }
        return weight > 0 ? sum / weight : .nan
    }
}
