import CGSL

/// Rank correlations between two equally long samples.
public enum RankCorrelation {
    /// Spearman's rho (GSL: Pearson correlation of the ranks, ties given mean ranks); NaN when
    /// a sample is constant (the correlation is undefined).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count && x.count >= 2, "spearman: \(x.count) vs \(y.count) values")
        var work = [Double](repeating: 0, count: 2 * x.count)
        return x.withUnsafeBufferPointer { px in
            y.withUnsafeBufferPointer { py in
                gsl_stats_spearman(px.baseAddress!, 1, py.baseAddress!, 1, x.count, &work)
            }
        }
    }

    /// Kendall's tau-b: (concordant - discordant) / sqrt((n0 - ties x)(n0 - ties y)), over all
    /// pairs; NaN when a sample is constant (GSL 2.7 has no Kendall statistic; O(n^2) is fine for the tens of samples used).
    public static func kendallTau(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count && x.count >= 2, "kendall: \(x.count) vs \(y.count) values")
        var concordant = 0.0, discordant = 0.0, tiesX = 0.0, tiesY = 0.0
        let n = x.count
        for i in 0..<n {
            for j in (i + 1)..<n {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 && dy == 0 { tiesX += 1; tiesY += 1 } else if dx == 0 { tiesX += 1 } else if dy == 0 { tiesY += 1 } else if (dx > 0) == (dy > 0) {
                    concordant += 1
                } else {
                    discordant += 1
                }
            }
        }
        let pairs = Double(n * (n - 1) / 2)
        let denominator = ((pairs - tiesX) * (pairs - tiesY)).squareRoot()
        return denominator > 0 ? (concordant - discordant) / denominator : .nan
    }
}
