import Scoring
import Testing

/// The ranking report's statistics on cases checked by hand.
@Suite struct RankingReportTests {
    @Test func perfectRankingHasNoRegretAndATightInterval() {
        let x: [Double] = [1, 2, 3, 4, 5, 6, 7, 8]
        let r = RankingReport.make(scores: x, standalone: x.map { 0.8 + $0 / 100 }, macs: x, bands: 2, resamples: 500)
        #expect(r.kendallTau == 1 && r.spearmanRho == 1 && r.bandKendallTau == 1)
        #expect(r.kendallTauInterval == .init(lower: 1, upper: 1))
        #expect(r.regret.map(\.regret) == [0, 0, 0] && r.regret.map(\.k) == [1, 3, 5])
    }

    @Test func sizeAloneCarriesTheOverallTauButNotTheBands() {
        // Accuracy rises with MACs, but inside each pair of similar size the smaller one wins.
        let macs: [Double] = [1, 2, 3, 4, 5, 6]
        let standalone: [Double] = [0.82, 0.81, 0.84, 0.83, 0.86, 0.85]
        let r = RankingReport.make(scores: macs, standalone: standalone, macs: macs, bands: 3, resamples: 500)
        #expect(abs(r.kendallTau - 0.6) < 1e-12)          // 12 concordant, 3 discordant of 15 pairs
        #expect(r.bandKendallTau == -1 && r.bandMACsKendallTau == -1)
        #expect(abs(r.regret[0].regret - 0.01) < 1e-12)   // picks 0.85, the best is 0.86
        #expect(r.regret[1].regret == 0)                  // the top 3 by score hold 0.86
        #expect(r.kendallTauInterval.lower <= 0.6 && r.kendallTauInterval.upper >= 0.6 && r.kendallTauInterval.lower < r.kendallTauInterval.upper)
        // The same statistics from the same seed.
        #expect(RankingReport.make(scores: macs, standalone: standalone, macs: macs, bands: 3, resamples: 500) == r)
    }

    @Test func bandsWeighTheirPairs() {
        // Bands of 2 and 3 (5 items, 2 bands): taus +1 (1 pair) and -1 (3 pairs) -> (1 - 3) / 4.
        let macs: [Double] = [1, 2, 3, 4, 5]
        let y: [Double] = [1, 2, 5, 4, 3]
        #expect(RankingReport.bandTau(macs, y, macs, 2) == -0.5)
    }
}
