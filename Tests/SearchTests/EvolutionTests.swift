import Foundation
import Search
import Spaces
import Testing
import _TestSupport

@Suite struct EvolutionTests {
    let space = SearchSpace.reference

    func run(seed: UInt64, budget: Budget, config: EvolutionConfig = smallConfig()) throws -> (EvolutionarySearch, FakeEvaluator) {
        let ev = FakeEvaluator(space: space, maxMACs: budget.maxMACs)
        let s = try EvolutionarySearch(space: space, budget: budget, config: config, latency: nil, evaluator: ev, rng: TestRandom(seed: seed))
        try s.start()
        while !s.finished { try s.runGeneration() }
        return (s, ev)
    }

    @Test func deterministicWithinBudgetAndMemoised() throws {
        let budget = Budget(maxMACs: 2_000_000, maxParameters: 80_000)
        let (a, ev) = try run(seed: 1, budget: budget)
        let (b, _) = try run(seed: 1, budget: budget)
        let (c, _) = try run(seed: 2, budget: budget)
        #expect(a.evaluated == b.evaluated)
        #expect(a.evaluated != c.evaluated)
        for cand in a.evaluated {
            #expect(cand.measured.macs <= 2_000_000 && cand.measured.parameters <= 80_000)
        }
        #expect(Set(ev.calls).count == ev.calls.count, "a candidate was evaluated twice")
        let best = try #require(a.best)
        // Evolution beats the initial random population: the best was bred in a later
        // generation and scores strictly above everything generation 0 drew.
        let initialBest = a.evaluated.filter { $0.generation == 0 }.map(\.score).max()!
        #expect(best.generation > 0)
        #expect(best.score > initialBest)
        #expect(best.measured.macs > 1_500_000)
    }

    @Test func infeasibleBudgetFailsAtOnceNamingTheCheapest() throws {
        let ev = FakeEvaluator(space: space, maxMACs: nil)
        #expect(throws: SearchError.infeasible(budget: "MACs <= 1000000", cheapest: "1060926 MACs, 49354 params",
                                               architecture: space.smallest.description)) {
            _ = try EvolutionarySearch(space: space, budget: Budget(maxMACs: 1_000_000), config: smallConfig(),
                                       latency: nil, evaluator: ev, rng: TestRandom(seed: 1))
        }
        #expect(ev.calls.isEmpty)
        #expect(throws: SearchError.noLatencyModel) {
            _ = try EvolutionarySearch(space: space, budget: Budget(maxLatencyMs: 1), config: smallConfig(),
                                       latency: nil, evaluator: ev, rng: TestRandom(seed: 1))
        }
    }

    @Test func macsFloorKeepsEveryCandidateInTheBand() throws {
        let (banded, _) = try run(seed: 3, budget: Budget(maxMACs: 3_000_000, minMACs: 2_600_000))
        #expect(banded.evaluated.count > 20)
        for cand in banded.evaluated { #expect(cand.measured.macs >= 2_600_000 && cand.measured.macs <= 3_000_000) }
        #expect(Budget(maxMACs: 3_000_000, minMACs: 2_600_000).readable == "MACs >= 2.60 M, MACs <= 3.00 M")
        // The floor is what keeps them there: without it the same search scores cheaper ones.
        let (free, _) = try run(seed: 3, budget: Budget(maxMACs: 3_000_000))
        #expect(free.evaluated.contains { $0.measured.macs < 2_600_000 })
        // Empty bands are refused before anything is scored.
        let ev = FakeEvaluator(space: space, maxMACs: nil)
        #expect(throws: SearchError.emptyBand(quantity: "MACs", floor: 3_000_001, limit: 3_000_000)) {
            _ = try EvolutionarySearch(space: space, budget: Budget(maxMACs: 3_000_000, minMACs: 3_000_001), config: smallConfig(),
                                       latency: nil, evaluator: ev, rng: TestRandom(seed: 1))
        }
        let most = space.cost(space.largest).macs
        #expect(throws: SearchError.floorAboveLargest(quantity: "MACs", floor: most + 1, largest: most, architecture: space.largest.description)) {
            _ = try EvolutionarySearch(space: space, budget: Budget(minMACs: most + 1), config: smallConfig(),
                                       latency: nil, evaluator: ev, rng: TestRandom(seed: 1))
        }
        #expect(ev.calls.isEmpty)
    }

    @Test func parametersFloorKeepsCapacity() throws {
        // The fake scores favour cheap candidates within the MACs limit, as inherited scores do.
        let budget = Budget(maxMACs: 3_000_000, minParameters: 100_000)
        let (floored, _) = try run(seed: 4, budget: budget)
        #expect(floored.evaluated.count > 20)
        for cand in floored.evaluated { #expect(cand.measured.parameters >= 100_000 && cand.measured.macs <= 3_000_000) }
        #expect(budget.readable == "MACs <= 3.00 M, params >= 100.0 K")
        let (free, _) = try run(seed: 4, budget: Budget(maxMACs: 3_000_000))
        #expect(free.evaluated.contains { $0.measured.parameters < 100_000 })
        let ev = FakeEvaluator(space: space, maxMACs: nil)
        #expect(throws: SearchError.emptyBand(quantity: "params", floor: 90_001, limit: 90_000)) {
            _ = try EvolutionarySearch(space: space, budget: Budget(maxParameters: 90_000, minParameters: 90_001), config: smallConfig(),
                                       latency: nil, evaluator: ev, rng: TestRandom(seed: 1))
        }
        let most = space.cost(space.largest).parameters
        #expect(throws: SearchError.floorAboveLargest(quantity: "params", floor: most + 1, largest: most, architecture: space.largest.description)) {
            _ = try EvolutionarySearch(space: space, budget: Budget(minParameters: most + 1), config: smallConfig(),
                                       latency: nil, evaluator: ev, rng: TestRandom(seed: 1))
        }
        #expect(ev.calls.isEmpty)
    }

    @Test func resumeEqualsUninterrupted() throws {
        let budget = Budget(maxMACs: 2_500_000)
        let (whole, _) = try run(seed: 9, budget: budget)
        let ev = FakeEvaluator(space: space, maxMACs: budget.maxMACs)
        let first = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil, evaluator: ev, rng: TestRandom(seed: 9))
        try first.start()
        for _ in 0..<3 { try first.runGeneration() }
        let saved = try JSONDecoder().decode(SearchState.self, from: JSONEncoder().encode(first.state))
        let second = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil,
                                            evaluator: FakeEvaluator(space: space, maxMACs: budget.maxMACs), rng: TestRandom(seed: 12345))
        try second.restore(saved, path: "state.json")
        while !second.finished { try second.runGeneration() }
        #expect(second.evaluated == whole.evaluated)
        #expect(second.best == whole.best)
        var other = smallConfig(); other.population = 21
        let mismatched = try EvolutionarySearch(space: space, budget: budget, config: other, latency: nil, evaluator: ev, rng: TestRandom(seed: 1))
        #expect(throws: SearchError.self) { try mismatched.restore(saved, path: "state.json") }
    }

    /// Elastic depth through evolution: every candidate bred is a valid one (a block runs
    /// only before its stage's depth, skipped genes canonical), depths vary, and a resumed
    /// search equals an uninterrupted one.
    @Test func elasticDepthCandidatesStayValidAndResume() throws {
        let elastic = try SpaceFile.parse(smallElasticSpaceYAML, file: "elastic.yaml")
        let budget = Budget(maxMACs: (elastic.cost(elastic.smallest).macs + elastic.cost(elastic.largest).macs) / 4)
        func search(_ rng: TestRandom) throws -> EvolutionarySearch {
            try EvolutionarySearch(space: elastic, budget: budget, config: smallConfig(), latency: nil,
                                   evaluator: FakeEvaluator(space: elastic, maxMACs: budget.maxMACs), rng: rng)
        }
        let whole = try search(TestRandom(seed: 4))
        try whole.start()
        while !whole.finished { try whole.runGeneration() }
        for c in whole.evaluated { try elastic.validate(c.architecture) }
        let depths = Set(whole.evaluated.map { a in elastic.stages.indices.map { elastic.depth(of: a.architecture, stage: $0) } })
        #expect(depths.count >= 6, "\(depths)")
        #expect(whole.evaluated.contains { $0.generation > 0 && $0.architecture.skipsBlocks })
        let first = try search(TestRandom(seed: 4))
        try first.start()
        for _ in 0..<2 { try first.runGeneration() }
        let saved = try JSONDecoder().decode(SearchState.self, from: JSONEncoder().encode(first.state))
        let second = try search(TestRandom(seed: 99))
        try second.restore(saved, path: "state.json")
        while !second.finished { try second.runGeneration() }
        #expect(second.evaluated == whole.evaluated)
    }

    /// Edge budgets: every candidate scored carries its peak memory and flash and meets
    /// both; an infeasible one is refused at once, naming what the cheapest candidate needs.
    @Test func peakMemoryAndFlashBudgetsAreHard() throws {
        let space = try SpaceFile.parse(smallElasticSpaceYAML, file: "elastic.yaml")
        let small = space.edgeCost(space.smallest), large = space.edgeCost(space.largest)
        let budget = Budget(maxPeakMemoryBytes: (small.peakActivationBytes + large.peakActivationBytes) / 2,
                            maxFlashBytes: (small.flashBytes + large.flashBytes) / 3)
        let ev = FakeEvaluator(space: space, maxMACs: nil)
        let s = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil, evaluator: ev, rng: TestRandom(seed: 5))
        try s.start()
        while !s.finished { try s.runGeneration() }
        #expect(ev.calls.count > 20)
        for a in ev.calls {
            let e = space.edgeCost(a)
            #expect(e.peakActivationBytes <= budget.maxPeakMemoryBytes! && e.flashBytes <= budget.maxFlashBytes!, "\(a)")
        }
        #expect(s.evaluated.allSatisfy { $0.measured.edge == space.edgeCost($0.architecture) })
        // The limit binds: candidates without it reach beyond.
        let free = FakeEvaluator(space: space, maxMACs: nil)
        let unlimited = try EvolutionarySearch(space: space, budget: Budget(), config: smallConfig(), latency: nil, evaluator: free, rng: TestRandom(seed: 5))
        try unlimited.start()
        while !unlimited.finished { try unlimited.runGeneration() }
        #expect(free.calls.contains { space.edgeCost($0).flashBytes > budget.maxFlashBytes! })
        #expect(unlimited.evaluated.allSatisfy { $0.measured.edge == nil })
        // Below the cheapest candidate's peak memory: refused before any evaluation.
        let tight = Budget(maxPeakMemoryBytes: small.peakActivationBytes - 1)
        #expect {
            try EvolutionarySearch(space: space, budget: tight, config: smallConfig(), latency: nil, evaluator: ev, rng: TestRandom(seed: 5))
        } throws: { error in
            "\(error)".contains("peak memory <= ") && "\(error)".contains("peak memory \(readableBytes(small.peakActivationBytes))")
        }
    }

    @Test func resumeRefusesOtherScoringSettings() throws {
        let budget = Budget(maxMACs: 2_500_000)
        let settings = ScoringSettings(calibrationImages: 2560, validationImages: 1000, finetuneSteps: 50)
        let first = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil,
                                           evaluator: FakeEvaluator(space: space, maxMACs: nil, scoring: settings), rng: TestRandom(seed: 2))
        try first.start()
        try first.runGeneration()
        let saved = try JSONDecoder().decode(SearchState.self, from: JSONEncoder().encode(first.state))
        #expect(saved.scoring == settings)
        var changed = settings
        changed.finetuneSteps = 0
        for other in [changed, nil] {
            let second = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil,
                                                evaluator: FakeEvaluator(space: space, maxMACs: nil, scoring: other), rng: TestRandom(seed: 2))
            #expect(throws: SearchError.self) { try second.restore(saved, path: "state.json") }
        }
        let same = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil,
                                          evaluator: FakeEvaluator(space: space, maxMACs: nil, scoring: settings), rng: TestRandom(seed: 2))
        try same.restore(saved, path: "state.json")
        #expect(same.evaluated == first.evaluated)
        // A state written before scoring settings were recorded resumes unless finetuning is asked.
        var legacy = saved
        legacy.scoring = nil
        var plain = settings
        plain.finetuneSteps = 0
        let old = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil,
                                         evaluator: FakeEvaluator(space: space, maxMACs: nil, scoring: plain), rng: TestRandom(seed: 2))
        try old.restore(legacy, path: "state.json")
        let tuned = try EvolutionarySearch(space: space, budget: budget, config: smallConfig(), latency: nil,
                                           evaluator: FakeEvaluator(space: space, maxMACs: nil, scoring: settings), rng: TestRandom(seed: 2))
        #expect(throws: SearchError.self) { try tuned.restore(legacy, path: "state.json") }
    }

    @Test func paretoModeKeepsAFrontAcrossCosts() throws {
        var config = smallConfig()
        config.pareto = true
        let (s, _) = try run(seed: 4, budget: Budget(maxMACs: 3_000_000), config: config)
        let front = s.front()
        #expect(front.count >= 3)
        // Cheapest first, and no costlier point scores lower (otherwise it would be dominated).
        for (a, b) in zip(front, front.dropFirst()) {
            #expect(a.measured.macs <= b.measured.macs && a.score <= b.score)
        }
        for c in s.evaluated { #expect(!front.contains { Pareto.dominates((c.score, Double(c.measured.macs)), ($0.score, Double($0.measured.macs))) }) }
    }
}
