import Foundation
import Search
import Spaces
import Testing

@Suite struct ParetoTests {
    @Test func frontsAndCrowdingOnAKnownSet() {
        // (score, cost)
        let pts: [(score: Double, cost: Double)] = [(0.9, 5), (0.8, 3), (0.7, 1), (0.85, 5), (0.6, 3), (0.7, 2), (0.9, 6)]
        let fronts = Pareto.fronts(pts)
        #expect(fronts[0] == [0, 1, 2])
        #expect(fronts[1] == [3, 5, 6])
        #expect(fronts[2] == [4])
        let crowd = Pareto.crowding(pts, front: [0, 1, 2])
        #expect(crowd[0] == .infinity && crowd[2] == .infinity)
        #expect(abs(crowd[1]! - ((0.9 - 0.7) / 0.2 + (5 - 1) / 4.0)) < 1e-12)
        #expect(Pareto.ranked(pts).first.map { [0, 2].contains($0) } == true)
        #expect(Pareto.ranked(pts).last == 4)
    }
}
