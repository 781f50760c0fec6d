import TensorCore
import Testing
import _TestSupport

@Suite struct RankCorrelationTests {
    @Test func knownValues() {
        let x: [Double] = [1, 2, 3, 4, 5]
        #expect(RankCorrelation.kendallTau(x, x) == 1)
        #expect(RankCorrelation.kendallTau(x, x.reversed()) == -1)
        #expect(abs(RankCorrelation.spearman(x, [2, 4, 6, 8, 100]) - 1) < 1e-12)
        // One swapped pair of 5: tau = (9 - 1) / 10, rho = 1 - 6 * 2 / (5 * 24).
        let y: [Double] = [1, 2, 4, 3, 5]
        #expect(abs(RankCorrelation.kendallTau(x, y) - 0.8) < 1e-12)
        #expect(abs(RankCorrelation.spearman(x, y) - 0.9) < 1e-12)
        // Ties: tau-b = 5 / sqrt(6 * 5) for x = [1, 2, 3, 4], y = [1, 2, 2, 3]... computed by hand.
        let tb = RankCorrelation.kendallTau([1, 2, 3, 4], [1, 2, 2, 3])
        #expect(abs(tb - 5 / (6.0 * 5).squareRoot()) < 1e-12)
    }
}
