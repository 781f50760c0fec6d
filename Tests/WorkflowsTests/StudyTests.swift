import Foundation
import Search
import Spaces
import TensorCore
import Testing
import Workflows
import _TestSupport

/// `pare study`'s bookkeeping with a fake backend (milliseconds instead of hours): what
/// each arm is given, the order of the steps, resume, the uniform baseline.
@Suite struct StudyTests {
    static let space = try! SpaceFile.parse(smallElasticSpaceYAML, file: "elastic.yaml")

    /// Scores from the architecture alone (more MACs, more score, plus a fixed jitter), and
    /// a record of every call; `failAt` throws on that call, as an interruption would.
    final class FakeBackend: StudyBackend {
        enum Call: Equatable { case supernet(UInt64), evolve(UInt64), score(UInt64, Int), retrain(UInt64, String, StudyStart), test(UInt64, String, StudyStart) }
        var calls: [Call] = []
        var failAt: Int?
        let budget: Budget
        init(budget: Budget, failAt: Int? = nil) { self.budget = budget; self.failAt = failAt }

        func record(_ c: Call) throws {
            calls.append(c)
            if calls.count == failAt { throw UserError("interrupted at call \(calls.count)") }
        }
        static func value(_ a: Architecture, _ seed: UInt64) -> Double {
            let jitter = Double(UInt64(truncatingIfNeeded: a.description.utf8.reduce(UInt64(seed)) { $0 &* 31 &+ UInt64($1) }) % 1000) / 1e5
            return Foundation.log(Double(StudyTests.space.cost(a).macs)) / 20 + jitter
        }
        final class Scorer: CandidateEvaluator {
            let seed: UInt64
            init(seed: UInt64) { self.seed = seed }
            func score(_ arch: Architecture) throws -> Double { FakeBackend.value(arch, seed) }
        }
        func trainSupernet(seed: UInt64) throws { try record(.supernet(seed)) }
        func evolve(seed: UInt64) throws -> (best: Candidate, evaluated: Int) {
            try record(.evolve(seed))
            var config = EvolutionConfig()
            config.population = 8; config.generations = 3; config.parents = 3; config.mutations = 4; config.crossovers = 4
            let s = try EvolutionarySearch(space: StudyTests.space, budget: budget, config: config, latency: nil, evaluator: Scorer(seed: seed),
                                           rng: RNG(seed: seed))
            try s.start()
            while !s.finished { try s.runGeneration() }
            return (s.best!, s.evaluated.count)
        }
        func score(_ archs: [Architecture], seed: UInt64) throws -> [Double] {
            try record(.score(seed, archs.count))
            return archs.map { Self.value($0, seed) }
        }
        func retrain(_ arch: Architecture, seed: UInt64, start: StudyStart, name: String) throws -> Double {
            try record(.retrain(seed, name, start))
            return Self.value(arch, seed) + (start == .inherited ? 0.01 : 0)
        }
        func test(_ arch: Architecture, seed: UInt64, start: StudyStart, name: String) throws -> (accuracy: Double, latencyMs: Double) {
            try record(.test(seed, name, start))
            return (Self.value(arch, seed) - 0.002, 0.1)
        }
    }

    func request(_ dir: String) -> StudyRequest {
        var r = StudyRequest(directory: dir, name: "tight", supernet: StudySupernet(space: "elastic.yaml", data: "synthetic", epochs: 1))
        r.seeds = [3, 4]
        let lo = Self.space.cost(Self.space.smallest).macs, hi = Self.space.cost(Self.space.largest).macs
        r.budget = Budget(maxMACs: lo + (hi - lo) / 10)
        return r
    }

    @Test func armsShareSeedsAndEveryWinnerMeetsTheBudget() throws {
        let dir = TemporaryDirectory("study")
        let r = request(dir.path)
        let backend = FakeBackend(budget: r.budget)
        let study = try Study(r, space: Self.space, backend: backend, log: { _ in })
        let report = try study.run()
        let c = try Constraints(space: Self.space, budget: r.budget, latency: nil)
        for seed in r.seeds {
            let winners = study.state.winners["seed-\(seed)"]!
            #expect(Set(winners.keys) == Set(StudyArm.allCases))
            for w in winners.values { #expect(c.admits(c.measure(w.architecture)), "\(w.architecture)") }
            // The random arm scored as many candidates as the evolution did, all distinct, all within the budget.
            let random = study.state.random["seed-\(seed)"]!
            #expect(random.count == study.state.evolutionEvaluated["seed-\(seed)"] && Set(random.map(\.architecture)).count == random.count)
            #expect(random.allSatisfy { c.admits(c.measure($0.architecture)) })
            #expect(winners[.randomBest]!.score == random.compactMap(\.score).max() && winners[.randomPick]!.architecture == random[0].architecture)
            // Uniform: every stage at one width level and one depth level, the largest
            // candidate's genes in the blocks that run; one width level wider breaks the budget.
            let u = winners[.uniform]!.architecture
            let level = Self.space.stages[0].widths.sorted(by: >).firstIndex(of: u.widths[0])!
            #expect(zip(Self.space.stages, u.widths).allSatisfy { $0.widths.sorted(by: >).firstIndex(of: $1) == level })
            let depthLevel = Self.space.stages[0].depthChoices.sorted(by: >).firstIndex(of: Self.space.depth(of: u, stage: 0))!
            #expect(Self.space.stages.indices.allSatisfy {
                Self.space.stages[$0].depthChoices.sorted(by: >).firstIndex(of: Self.space.depth(of: u, stage: $0)) == min(depthLevel, Self.space.stages[$0].depthChoices.count - 1)
            })
            #expect(zip(u.genes, Self.space.largest.genes).allSatisfy { $0.skipped || $0 == $1 })
            if level > 0 {
                let wider = Architecture(widths: Self.space.stages.map { $0.widths.sorted(by: >)[level - 1] }, genes: u.genes)
                #expect(!c.admits(c.measure(wider)))
            }
        }
        // Every arm's models are trained and tested with their seed only; the test split is
        // evaluated after every training of the study.
        let lastRetrain = backend.calls.lastIndex { if case .retrain = $0 { return true }; return false }!
        let firstTest = backend.calls.firstIndex { if case .test = $0 { return true }; return false }!
        #expect(lastRetrain < firstTest)
        for call in backend.calls {
            if case let .retrain(seed, name, _) = call { #expect(name.hasPrefix("seed-\(seed)/")) }
            if case let .test(seed, name, _) = call { #expect(name.hasPrefix("seed-\(seed)/")) }
        }
        #expect(report.rows.count == StudyArm.allCases.count * StudyStart.allCases.count)
        #expect(report.rows.allSatisfy { $0.seeds == 2 && $0.test != nil })
        #expect(try String(contentsOfFile: r.path + "/table.md", encoding: .utf8) == report.markdown)
    }

    @Test func aStudyInterruptedAnywhereResumesToTheSameResult() throws {
        let whole = TemporaryDirectory("study-whole")
        let r = request(whole.path)
        let reference = FakeBackend(budget: r.budget)
        _ = try Study(r, space: Self.space, backend: reference, log: { _ in }).run()
        let final = try JSONDecoder().decode(StudyState.self, from: Data(contentsOf: URL(fileURLWithPath: r.path + "/study.json")))
        for stop in [1, 4, 9, reference.calls.count - 3] {
            let dir = TemporaryDirectory("study-\(stop)")
            let s = request(dir.path)
            #expect(throws: UserError.self) { try Study(s, space: Self.space, backend: FakeBackend(budget: s.budget, failAt: stop), log: { _ in }).run() }
            let resumed = FakeBackend(budget: s.budget)
            _ = try Study(s, space: Self.space, backend: resumed, log: { _ in }).run()
            var state = try JSONDecoder().decode(StudyState.self, from: Data(contentsOf: URL(fileURLWithPath: s.path + "/study.json")))
            state.seconds = final.seconds
            #expect(state == final, "stopped at call \(stop)")
            // Nothing recorded as done runs again.
            #expect(resumed.calls.count <= reference.calls.count - (stop > 1 ? 1 : 0))
            #expect(try String(contentsOfFile: s.path + "/table.md", encoding: .utf8) == String(contentsOfFile: r.path + "/table.md", encoding: .utf8))
        }
        // Other settings in the same directory are refused in one line.
        var other = r
        other.retrainEpochs = 3
        #expect { try Study(other, space: Self.space, backend: reference, log: { _ in }) } throws: { "\($0)".contains("started with other settings") }
    }

    @Test func anInfeasibleBudgetIsRefusedBeforeAnyStep() throws {
        let dir = TemporaryDirectory("study-infeasible")
        var r = request(dir.path)
        r.budget = Budget(maxPeakMemoryBytes: Self.space.edgeCost(Self.space.smallest).peakActivationBytes - 1)
        let backend = FakeBackend(budget: r.budget)
        #expect(throws: SearchError.self) { try Study(r, space: Self.space, backend: backend, log: { _ in }) }
        #expect(backend.calls.isEmpty)
    }
}
