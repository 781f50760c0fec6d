import Foundation
import Search
import Spaces
import Testing

/// A seeded generator with byte state (the real runs use GSL's mt19937 through the same protocol).
final class TestRandom: SearchRandom {
    var s: UInt64
    init(seed: UInt64) { s = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
    func next() -> UInt64 {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        return z ^ (z >> 31)
    }
    func int(below n: Int) -> Int { Int(next() % UInt64(n)) }
    func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    var state: [UInt8] { withUnsafeBytes(of: s) { Array($0) } }
    func restore(_ bytes: [UInt8]) throws {
        guard bytes.count == 8 else { throw SearchError.noLatencyModel }
        s = bytes.withUnsafeBytes { $0.load(as: UInt64.self) }
    }
}

/// Fake evaluator: bigger candidates score higher with diminishing returns, plus an
/// operator preference; records every call and fails the test on a budget breach.
final class FakeEvaluator: CandidateEvaluator {
    let space: SearchSpace
    let maxMACs: Int?
    var calls: [Architecture] = []
    var scoring: ScoringSettings?
    init(space: SearchSpace, maxMACs: Int?, scoring: ScoringSettings? = nil) { self.space = space; self.maxMACs = maxMACs; self.scoring = scoring }
    func score(_ arch: Architecture) throws -> Double {
        calls.append(arch)
        let macs = space.cost(arch).macs
        if let maxMACs { #expect(macs <= maxMACs, "evaluated a candidate over budget") }
        let xceptions = arch.genes.filter { $0.op == .xception }.count
        return log(Double(macs)) + 0.05 * Double(xceptions)
    }
}

func smallConfig() -> EvolutionConfig {
    var c = EvolutionConfig()
    c.population = 20; c.generations = 6; c.parents = 5; c.mutations = 8; c.crossovers = 8
    return c
}
