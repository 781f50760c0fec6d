import Search
import Spaces
import Testing

@Suite struct PlotTests {
    func candidate(_ macs: Int, _ latency: Double?, _ score: Double) -> Candidate {
        Candidate(architecture: SearchSpace.reference.smallest, measured: Measured(macs: macs, parameters: 1000, latencyMs: latency),
                  score: score, generation: 0)
    }

    @Test func axesFollowTheBudget() {
        #expect(SVGPlot.axes(for: Budget()) == [.macs])
        #expect(SVGPlot.axes(for: Budget(maxMACs: 3_000_000)) == [.macs])
        #expect(SVGPlot.axes(for: Budget(maxLatencyMs: 0.95)) == [.latency])
        #expect(SVGPlot.axes(for: Budget(maxMACs: 3_000_000, maxLatencyMs: 0.95)) == [.macs, .latency])
    }

    @Test func frontIsAStaircaseOnThePlottedCost() {
        // Latency and MACs disagree: the MACs-cheapest is the slowest.
        let cs = [candidate(1_000_000, 0.9, 0.80), candidate(2_000_000, 0.5, 0.85), candidate(3_000_000, 0.7, 0.90),
                  candidate(2_500_000, 0.6, 0.70), candidate(1_500_000, 0.95, 0.82)]
        let latencyFront = SVGPlot.front(cs, on: .latency)
        #expect(latencyFront.map(\.measured.latencyMs!) == [0.5, 0.7])
        let macsFront = SVGPlot.front(cs, on: .macs)
        #expect(macsFront.map(\.measured.macs) == [1_000_000, 1_500_000, 2_000_000, 3_000_000])
        for f in [latencyFront, macsFront] { #expect(zip(f, f.dropFirst()).allSatisfy { $0.score < $1.score }) }
    }

    @Test func latencyBudgetDrawsLatencyInReadableUnits() {
        let cs = [candidate(1_000_000, 0.9, 0.80), candidate(2_000_000, 0.5, 0.85)]
        let latencyOnly = SVGPlot.render(candidates: cs, best: cs[1], budget: Budget(maxLatencyMs: 0.95), title: "t")
        #expect(latencyOnly.contains("predicted latency (ms)") && latencyOnly.contains("budget 0.95 ms"))
        #expect(!latencyOnly.contains("MACs per image"))
        let both = SVGPlot.render(candidates: cs, best: cs[1], budget: Budget(maxMACs: 3_000_000, maxLatencyMs: 0.95), title: "t")
        #expect(both.contains("MACs per image") && both.contains("predicted latency (ms)") && both.contains("budget 3.00 M"))
        #expect(both.contains("width=\"1440\""), "one 720-wide panel per budgeted cost")
        #expect(!both.contains("3000000"))
        #expect(readableCount(812_000) == "812.0 K" && readableCount(3_000_000) == "3.00 M" && readableCount(33_725_000) == "33.7 M")
        #expect(Budget(maxMACs: 3_000_000, maxParameters: 80_000).readable == "MACs <= 3.00 M, params <= 80.0 K")
    }
}
